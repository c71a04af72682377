"""CLIP-family image and text encoders (Chinese-CLIP, AltCLIP, CLIP) through transformers.

Models load by hub id or local directory. Output vectors are L2-normalised float32.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ingest import onnx_int8
from ingest.images import Preprocess
from ingest.onnx_int8 import OnnxTower

log = logging.getLogger(__name__)


class ModelNotFound(RuntimeError):
    """The model could not be loaded; the message says which setting to change."""


@dataclass(frozen=True)
class Fingerprint:
    """What identifies the vector space of a collection: the model, its revision and dim."""

    model: str
    revision: str
    dim: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Fingerprint:
        return cls(model=str(d["model"]), revision=str(d["revision"]), dim=int(d["dim"]))


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AMX-BF16 or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: fp16 on CUDA, bf16 on CPUs with AMX/AVX512-BF16, fp32 otherwise."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def local_fingerprint(path: Path) -> str:
    """A cheap content revision of a local model directory (config + weight file samples)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        f = path / name
        if not f.is_file():
            continue
        if name.endswith(".json") or name.endswith(".txt"):
            h.update(name.encode() + f.read_bytes())
        elif name.endswith((".safetensors", ".bin", ".pt")):
            size = f.stat().st_size
            h.update(f"{name}:{size}".encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                    h.update(fh.read(1 << 20))
    return "local-" + h.hexdigest()[:16]


def _fingerprint(name: str, config, revision: str | None) -> Fingerprint:
    local = Path(name).expanduser()
    if local.is_dir():
        model, rev = str(local.resolve()), local_fingerprint(local)
    else:
        model, rev = name, getattr(config, "_commit_hash", None) or revision or "main"
    dim = int(getattr(config, "projection_dim", 0) or config.text_config.hidden_size)
    return Fingerprint(model=model, revision=rev, dim=dim)


def fingerprint_of(name_or_dir: str | Path, revision: str | None = None) -> Fingerprint:
    """The fingerprint :meth:`ClipEncoder.from_pretrained` would give, from the config alone
    (no weights loaded)."""
    from transformers import AutoConfig

    name = str(name_or_dir)
    is_local = Path(name).expanduser().is_dir()
    kw: dict = {"revision": revision} if revision and not is_local else {}
    if offline() or is_local:
        kw["local_files_only"] = True
    try:
        config = AutoConfig.from_pretrained(
            str(Path(name).expanduser()) if is_local else name, **kw
        )
    except (OSError, ValueError) as e:
        raise ModelNotFound(
            f"cannot read the config of CLIP model {name!r}: {str(e).splitlines()[0]}. Set "
            "TUWEN_CLIP_MODEL (or --clip-model) to a local model directory."
        ) from e
    return _fingerprint(name, config, revision)


class LazyClipEncoder:
    """A :class:`ClipEncoder` that loads its weights on first use.

    ``fingerprint`` is known without loading, so a run with nothing to embed never pays for
    the model.
    """

    def __init__(self, name_or_dir: str | Path, **kwargs) -> None:
        self._name = name_or_dir
        self._kwargs = kwargs
        self._encoder: ClipEncoder | None = None
        self._lock = threading.Lock()
        self.fingerprint = fingerprint_of(name_or_dir, kwargs.get("revision"))

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def _load(self) -> ClipEncoder:
        with self._lock:
            if self._encoder is None:
                enc = ClipEncoder.from_pretrained(self._name, **self._kwargs)
                if (
                    enc.fingerprint != self.fingerprint
                ):  # pragma: no cover - config changed under us
                    raise ModelNotFound(f"{self._name}: the model changed while loading")
                self._encoder = enc
        return self._encoder

    def __getattr__(self, attr: str):
        return getattr(self._load(), attr)


def preprocess_from(image_processor) -> Preprocess:
    """Read resize/crop/normalisation from a transformers image processor."""

    def hw(size) -> tuple[int, int] | int:
        if size is None:
            return 224
        if isinstance(size, int):
            return size
        size = dict(size)
        if "height" in size and "width" in size:
            return (int(size["height"]), int(size["width"]))
        return int(size.get("shortest_edge") or size.get("longest_edge") or 224)

    resize = hw(getattr(image_processor, "size", None))
    crop = None
    if getattr(image_processor, "do_center_crop", False):
        c = hw(getattr(image_processor, "crop_size", None))
        crop = (c, c) if isinstance(c, int) else c
    mean = tuple(float(x) for x in image_processor.image_mean)
    std = tuple(float(x) for x in image_processor.image_std)
    resample = getattr(image_processor, "resample", Image.Resampling.BICUBIC)
    return Preprocess(resize, crop, mean, std, int(resample))  # type: ignore[arg-type]


class ClipEncoder:
    """Image and text towers of one CLIP-family model, batched, L2-normalised float32 out.

    Thread-safe: concurrent callers are serialised around the model.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
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
        self._onnx: dict[str, OnnxTower] = {}  # towers that run in ONNX Runtime int8

    @property
    def dim(self) -> int:
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
    ) -> ClipEncoder:
        """Load a Chinese-CLIP / AltCLIP / CLIP model by hub id or local directory.

        ``int8`` names towers (``"text"``, ``"vision"``) to run in dynamic int8 when the model
        is on the CPU; ignored on a GPU. ``int8_runtime`` picks how: ``"onnx"``
        (:meth:`use_onnx_int8`, exported once into ``cache_dir``), ``"torch"``
        (:meth:`quantize_int8`), or ``"auto"``: ONNX Runtime when it is installed.

        Raises:
            ModelNotFound: the model is neither a local directory nor reachable; the message
                says how to point ``TUWEN_CLIP_MODEL`` at a local directory.
        """
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        name = str(name_or_dir)
        local = Path(name).expanduser()
        is_local = local.is_dir()
        source = str(local.resolve()) if is_local else name
        kw = {"revision": revision} if revision and not is_local else {}
        if offline() or is_local:
            kw["local_files_only"] = True
        try:
            model = AutoModel.from_pretrained(source, **kw)
            tokenizer = AutoTokenizer.from_pretrained(source, **kw)
            image_processor = AutoImageProcessor.from_pretrained(source, **kw)
        except (OSError, ValueError) as e:
            if is_local:
                raise ModelNotFound(
                    f"{source} is not a complete CLIP model directory ({e}); it needs the "
                    "files save_pretrained writes for the model, tokenizer and processor"
                ) from e
            raise ModelNotFound(
                f"cannot load CLIP model {name!r}"
                + (" with HF_HUB_OFFLINE=1" if offline() else "")
                + f": {str(e).splitlines()[0]}. Download it on a connected machine "
                "(e.g. `huggingface-cli download "
                f"{name} --local-dir ./models/clip`) and set TUWEN_CLIP_MODEL=./models/clip "
                "(or pass --clip-model ./models/clip)."
            ) from e
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise ModelNotFound(f"{name!r} is a {type(model).__name__}, not a CLIP-family model")
        dev = pick_device(device)
        dt = pick_dtype(dtype, dev)
        model = model.to(device=dev, dtype=dt)
        fingerprint = _fingerprint(name, model.config, revision)
        text_cfg = getattr(model.config, "text_config", model.config)
        max_len = min(
            int(getattr(tokenizer, "model_max_length", 77) or 77),
            int(getattr(text_cfg, "max_position_embeddings", 77) or 77),
            77 if getattr(model.config, "model_type", "") != "chinese_clip" else 52,
        )
        log.info("loaded CLIP %s (%s, %s, dim %d)", name, dev, dt, fingerprint.dim)
        encoder = cls(
            model,
            tokenizer,
            preprocess_from(image_processor),
            fingerprint,
            device=dev,
            dtype=dt,
            max_text_length=max_len,
        )
        if int8 and encoder.device.type == "cpu":
            if int8_runtime not in ("auto", "onnx", "torch"):
                raise ValueError(f"int8_runtime must be auto, onnx or torch, not {int8_runtime!r}")
            if int8_runtime == "onnx" or (int8_runtime == "auto" and onnx_int8.available()):
                encoder.use_onnx_int8(tuple(int8), cache_dir)
            else:
                encoder.quantize_int8(tuple(int8))
        return encoder

    def use_onnx_int8(
        self, towers: Sequence[str] = ("text",), cache_dir: str | Path | None = None
    ) -> None:
        """Run towers in ONNX Runtime with int8 weights (CPU only; :mod:`ingest.onnx_int8`).

        The export is cached under ``cache_dir`` (default :func:`onnx_int8.default_cache_dir`)
        per model fingerprint, so only the first load of a model pays for it (seconds).

        Raises:
            ValueError: the model is on a GPU, or ONNX Runtime is not installed.
        """
        if self.device.type != "cpu":
            raise ValueError("int8 quantisation runs on the CPU only")
        if not onnx_int8.available():
            raise ValueError("ONNX Runtime is not installed: pip install onnxruntime onnx")
        cache = Path(cache_dir) if cache_dir else onnx_int8.default_cache_dir()
        for tower in towers:
            if tower not in _TOWER_MODULES:
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

    @property
    def runtime(self) -> dict[str, str]:
        """What runs each tower, e.g. ``{"text": "onnx-int8", "vision": "torch-bfloat16"}``."""
        out = {}
        for tower, (_, proj) in _TOWER_MODULES.items():
            if tower in self._onnx:
                out[tower] = "onnx-int8"
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

        Args:
            towers: ``"text"`` and/or ``"vision"``.

        Raises:
            ValueError: the model is on a GPU, or lacks a tower's modules.
        """
        if self.device.type != "cpu":
            raise ValueError("int8 quantisation runs on the CPU only")
        quantize = torch.ao.quantization.quantize_dynamic
        m = self.model
        # torch marks its quantised-tensor constructors deprecated (one warning per load);
        # the pinned torch 2.13 runs them, and the tests check the vectors they give.
        with self._lock, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
            for tower in towers:
                body, proj = _TOWER_MODULES[tower]
                if not (hasattr(m, body) and hasattr(m, proj)):
                    raise ValueError(f"{type(m).__name__} has no {body}/{proj} to quantise")
                setattr(m, body, quantize(getattr(m, body).float(), {torch.nn.Linear}, torch.qint8))
                q = quantize(torch.nn.Sequential(getattr(m, proj).float()), {torch.nn.Linear})
                setattr(m, proj, q[0])
            if "vision" in towers:
                self.dtype = torch.float32  # the quantised tower takes float32 pixels

    @torch.inference_mode()
    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed ``(N, H, W, 3)`` uint8 arrays from :meth:`Preprocess.to_array`."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if "vision" in self._onnx:
            return _normalise(
                self._onnx["vision"].run(pixel_values=self.preprocess.normalise(pixels))
            )
        x = torch.from_numpy(self.preprocess.normalise(pixels))
        x = x.to(device=self.device, dtype=self.dtype)
        with self._lock:
            out = self.model.get_image_features(pixel_values=x)
        return _normalise(pooled(out))

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
            return _normalise(
                self._onnx["text"].run(
                    **{k: v.astype(np.int64, copy=False) for k, v in batch.items()}
                )
            )
        batch = self._text_inputs(texts, "pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with self._lock:
            out = self.model.get_text_features(**batch)
        return _normalise(pooled(out))

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


_TOWER_MODULES = {
    "text": ("text_model", "text_projection"),
    "vision": ("vision_model", "visual_projection"),
}


def pooled(out) -> torch.Tensor:
    """The embedding of ``get_text_features``/``get_image_features``: transformers 5 returns an
    output object (``.pooler_output``), older versions the tensor itself."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _normalise(t: torch.Tensor | np.ndarray) -> np.ndarray:
    v = t if isinstance(t, np.ndarray) else t.detach().float().cpu().numpy()
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)
