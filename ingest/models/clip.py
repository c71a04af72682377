"""CLIP-family image and text encoders (Chinese-CLIP, AltCLIP, CLIP) through transformers.

Models load by hub id or local directory (:mod:`ingest.models.loading`). Output vectors are
L2-normalised float32. On the CPU a tower may run in int8: the image tower in OpenVINO, calibrated
on catalog photos (:mod:`ingest.models.openvino_int8`), either tower in ONNX Runtime
(:mod:`ingest.models.onnx_int8`) or with torch's dynamic quantisation; its vectors stay in the
float model's space.
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ingest.images import Preprocess
from ingest.models import onnx_int8, openvino_int8
from ingest.models.device import pick_device, pick_dtype
from ingest.models.fingerprint import Fingerprint, fingerprint_from_config
from ingest.models.loading import load_clip_parts, max_text_length, preprocess_from
from ingest.models.onnx_int8 import OnnxTower
from ingest.models.openvino_int8 import OpenVinoTower
from ingest.models.towers import TOWER_MODULES, normalise, pooled
from ingest.settings import default_cache_dir

log = logging.getLogger(__name__)
INT8_RUNTIMES = ("auto", "onnx", "torch", "openvino")


class ClipEncoder:
    """Image and text towers of one CLIP-family model, batched, L2-normalised float32 out.

    Thread-safe: concurrent callers are serialised around the model.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        preprocess: Preprocess,
        fingerprint: Fingerprint,
        device: torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        max_text_length: int = 52,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.fingerprint = fingerprint
        self.device = device or torch.device("cpu")
        self.dtype = dtype
        self.max_text_length = max_text_length
        self._token_type_ids = getattr(model.config, "model_type", "") == "chinese_clip"
        self._lock = threading.Lock()
        # towers that run int8 outside torch (ONNX Runtime, OpenVINO)
        self._onnx: dict[str, OnnxTower | OpenVinoTower] = {}

    @property
    def dim(self) -> int:
        """The dimension of the vectors."""
        return self.fingerprint.dim

    @classmethod
    def from_pretrained(
        cls,
        name_or_dir: str | Path,
        *,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        int8: Sequence[str] = (),
        int8_runtime: str = "auto",
        cache_dir: str | Path | None = None,
        calibration: Sequence[str | Path] = (),
    ) -> ClipEncoder:
        """Load a Chinese-CLIP / AltCLIP / CLIP model by hub id or local directory.

        Args:
            name_or_dir: Hub id or local directory (``TUWEN_CLIP_MODEL``).
            revision: Hub revision (``TUWEN_CLIP_REVISION``); ignored for a directory.
            device: ``auto``, ``cpu`` or ``cuda[:N]`` (:mod:`ingest.models.device`).
            dtype: ``auto``, ``float32``, ``bfloat16`` or ``float16``.
            int8: Towers (``"text"``, ``"vision"``) to run in dynamic int8 on the CPU; ignored
                on a GPU (see :meth:`apply_int8`).
            int8_runtime: ``"openvino"``, ``"onnx"``, ``"torch"`` or ``"auto"`` (see
                :meth:`apply_int8`).
            cache_dir: Where exported int8 towers are kept (``TUWEN_CACHE_DIR``).
            calibration: Catalog photos to calibrate an OpenVINO image tower on, when none is
                cached for this model.

        Raises:
            ModelNotFound: the model is neither a local directory nor reachable; the message
                says how to point ``TUWEN_CLIP_MODEL`` at a local directory.
        """
        name = str(name_or_dir)
        model, tokenizer, image_processor = load_clip_parts(name, revision)
        dev = pick_device(device)
        dt = pick_dtype(dtype, dev)
        model = model.to(device=dev, dtype=dt)
        fingerprint = fingerprint_from_config(name, model.config, revision)
        log.info("loaded CLIP %s (%s, %s, dim %d)", name, dev, dt, fingerprint.dim)
        encoder = cls(
            model,
            tokenizer,
            preprocess_from(image_processor),
            fingerprint,
            device=dev,
            dtype=dt,
            max_text_length=max_text_length(model, tokenizer),
        )
        encoder.apply_int8(int8, int8_runtime, cache_dir, calibration)
        return encoder

    def apply_int8(
        self,
        towers: Sequence[str],
        runtime: str = "auto",
        cache_dir: str | Path | None = None,
        calibration: Sequence[str | Path] = (),
    ) -> None:
        """Run ``towers`` in int8, in place; a no-op off the CPU or without towers.

        ``runtime`` picks how: ``"onnx"`` (:meth:`use_onnx_int8`, exported once into
        ``cache_dir``), ``"torch"`` (:meth:`quantize_int8`), ``"openvino"`` (the image tower
        in OpenVINO, :meth:`use_openvino_int8`; the text tower as ``"auto"``), or ``"auto"``:
        the image tower in OpenVINO when it is installed and a tower is cached or
        ``calibration`` photos are given, other towers in ONNX Runtime when it is installed.
        An image tower that OpenVINO cannot have (no cached tower, no photos) falls back to
        ONNX Runtime.

        Raises:
            ValueError: an unknown runtime or tower, ``"onnx"`` without ONNX Runtime, or
                ``"openvino"`` without OpenVINO.
        """
        if not towers or self.device.type != "cpu":
            return
        if runtime not in INT8_RUNTIMES:
            raise ValueError(
                f"int8_runtime must be one of {', '.join(INT8_RUNTIMES)}, not {runtime!r}"
            )
        towers = tuple(towers)
        if runtime == "openvino" and not openvino_int8.available():
            raise ValueError("OpenVINO is not installed: pip install 'tuwen[openvino]'")
        if "vision" in towers and (
            runtime == "openvino" or (runtime == "auto" and openvino_int8.available())
        ):
            if self.use_openvino_int8(cache_dir, calibration):
                towers = tuple(t for t in towers if t != "vision")
            elif runtime == "openvino":
                log.warning(
                    "no OpenVINO image tower is cached for %s and no catalog photos were given "
                    "to calibrate one: the image tower runs in ONNX Runtime int8",
                    self.fingerprint.model,
                )
        if runtime == "openvino":  # the text tower (and a fallen-back image tower)
            runtime = "auto"
        if not towers:
            return
        if runtime == "onnx" or (runtime == "auto" and onnx_int8.available()):
            self.use_onnx_int8(towers, cache_dir)
        else:
            self.quantize_int8(towers)

    def with_int8(
        self,
        towers: Sequence[str],
        runtime: str = "auto",
        cache_dir: str | Path | None = None,
    ) -> ClipEncoder:
        """An encoder of the same model with ``towers`` also in int8; this one is left as is.

        The two share every float weight (and the lock around them): only the int8 copies of
        ``towers`` are new. On a GPU, or without towers, this encoder itself is returned.
        """
        if not towers or self.device.type != "cpu":
            return self
        twin = ClipEncoder(
            _sharing_copy(self.model),
            self.tokenizer,
            self.preprocess,
            self.fingerprint,
            device=self.device,
            dtype=self.dtype,
            max_text_length=self.max_text_length,
        )
        twin._onnx = dict(self._onnx)
        twin._lock = self._lock
        twin.apply_int8(towers, runtime, cache_dir)
        return twin

    def use_onnx_int8(
        self, towers: Sequence[str] = ("text",), cache_dir: str | Path | None = None
    ) -> None:
        """Run towers in ONNX Runtime with int8 weights (CPU only; :mod:`ingest.models.onnx_int8`).

        The export is cached under ``cache_dir`` (default
        :func:`ingest.settings.default_cache_dir`) per model fingerprint, so only the first load
        of a model pays for it (seconds).

        Raises:
            ValueError: the model is on a GPU, ONNX Runtime is not installed, or a tower is
                unknown.
        """
        if self.device.type != "cpu":
            raise ValueError("int8 quantisation runs on the CPU only")
        if not onnx_int8.available():
            raise ValueError("ONNX Runtime is not installed: pip install onnxruntime onnx")
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        for tower in towers:
            if tower not in TOWER_MODULES:
                raise ValueError(f"unknown tower {tower!r}; expected text or vision")
            if tower == "vision":
                h, w = self.preprocess.output_size
                example = {"pixel_values": torch.zeros(2, 3, h, w)}
            else:  # a padded batch, so the export keeps the attention mask
                example = self._text_inputs(["男士黑色休闲衬衫", "女士"], "pt")
            with self._lock:
                self._onnx[tower] = onnx_int8.int8_tower(
                    self.model,
                    tower,
                    fingerprint=self.fingerprint.to_dict(),
                    cache_dir=cache,
                    example=example,
                    token_type_ids=self._token_type_ids,
                )

    def use_openvino_int8(
        self, cache_dir: str | Path | None = None, calibration: Sequence[str | Path] = ()
    ) -> bool:
        """Run the image tower in OpenVINO int8 (CPU only; :mod:`ingest.models.openvino_int8`).

        The tower is read from ``cache_dir`` (default :func:`ingest.settings.default_cache_dir`)
        when one is cached for this model, else quantised on a sample of the ``calibration``
        photos (minutes, once per model) and cached.

        Returns:
            Whether the image tower now runs in OpenVINO: ``False`` when none is cached and no
            calibration photo decodes (the tower is left as it was).

        Raises:
            ValueError: the model is on a GPU, or OpenVINO is not installed.
        """
        if self.device.type != "cpu":
            raise ValueError("int8 quantisation runs on the CPU only")
        if not openvino_int8.available():
            raise ValueError("OpenVINO is not installed: pip install 'tuwen[openvino]'")
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        with self._lock:
            tower = openvino_int8.vision_tower(
                self.model,
                fingerprint=self.fingerprint.to_dict(),
                cache_dir=cache,
                preprocess=self.preprocess,
                photos=calibration,
            )
            if tower is not None:
                self._onnx["vision"] = tower
        return tower is not None

    @property
    def runtime(self) -> dict[str, str]:
        """What runs each tower, e.g. ``{"text": "onnx-int8", "vision": "openvino-int8"}``."""
        out = {}
        for tower, (_, proj) in TOWER_MODULES.items():
            if tower in self._onnx:
                out[tower] = self._onnx[tower].kind
            elif type(getattr(self.model, proj, None)).__module__.startswith("torch.ao"):
                out[tower] = "torch-int8"
            else:
                out[tower] = f"torch-{str(self.dtype).removeprefix('torch.')}"
        return out

    def quantize_int8(self, towers: Sequence[str] = ("text",)) -> None:
        """Run towers with dynamically quantised int8 linear layers (CPU only).

        Measured with the random-weight Chinese-CLIP ViT-B/16 on an AVX512-VNNI CPU, against
        bf16: text tower 1.9x faster for one query (``bench/routes.py``, route ``int8``),
        image tower 1.4x faster for a batch of 32, vectors within cosine 0.999 of bf16's, so
        they stay in the space of vectors stored by a float model.

        The float tower is replaced on this encoder's model object only: an encoder made by
        :meth:`with_int8` leaves its source's towers float.

        Args:
            towers: ``"text"`` and/or ``"vision"``.

        Raises:
            ValueError: the model is on a GPU, or lacks a tower's modules.
        """
        if self.device.type != "cpu":
            raise ValueError("int8 quantisation runs on the CPU only")
        m = self.model
        # torch marks its quantised-tensor constructors deprecated (one warning per load);
        # the pinned torch 2.13 runs them, and the tests check the vectors they give.
        with self._lock, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
            for tower in towers:
                body, proj = TOWER_MODULES[tower]
                if not (hasattr(m, body) and hasattr(m, proj)):
                    raise ValueError(f"{type(m).__name__} has no {body}/{proj} to quantise")
                setattr(m, body, _quantized(getattr(m, body)))
                setattr(m, proj, _quantized(torch.nn.Sequential(getattr(m, proj)))[0])
            if "vision" in towers:
                self.dtype = torch.float32  # the quantised tower takes float32 pixels

    @torch.inference_mode()
    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed ``(N, H, W, 3)`` uint8 arrays from :meth:`Preprocess.to_array`."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if "vision" in self._onnx:
            return normalise(
                self._onnx["vision"].run(pixel_values=self.preprocess.normalise(pixels))
            )
        x = torch.from_numpy(self.preprocess.normalise(pixels))
        x = x.to(device=self.device, dtype=self.dtype)
        with self._lock:
            out = self.model.get_image_features(pixel_values=x)
        return normalise(pooled(out))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB Pillow images."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_pixels(np.stack([self.preprocess.to_array(im) for im in images]))

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed captions or queries."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if "text" in self._onnx:
            batch = self._text_inputs(texts, "np")
            return normalise(
                self._onnx["text"].run(
                    **{k: v.astype(np.int64, copy=False) for k, v in batch.items()}
                )
            )
        batch = self._text_inputs(texts, "pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with self._lock:
            out = self.model.get_text_features(**batch)
        return normalise(pooled(out))

    def _text_inputs(self, texts: Sequence[str], tensors: str) -> dict:
        return dict(
            self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_text_length,
                return_tensors=tensors,
                return_token_type_ids=self._token_type_ids,
            )
        )


def _quantized(module: torch.nn.Module) -> torch.nn.Module:
    """A float32 copy of ``module`` with its linear layers in dynamic int8 (``module`` untouched)."""
    body = copy.deepcopy(module).float()
    return torch.ao.quantization.quantize_dynamic(
        body, {torch.nn.Linear}, torch.qint8, inplace=True
    )


def _sharing_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A model object sharing every parameter and submodule of ``model``, whose submodules can be
    replaced (by :meth:`ClipEncoder.quantize_int8`) without touching ``model``."""
    twin = copy.copy(model)
    for registry in ("_modules", "_parameters", "_buffers"):
        twin.__dict__[registry] = dict(model.__dict__[registry])
    return twin
