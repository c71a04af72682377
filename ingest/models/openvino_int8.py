"""The CLIP image tower in OpenVINO, int8 weights and activations calibrated on catalog photos (CPU).

The tower is exported from the float model to ONNX (:func:`ingest.models.onnx_int8.export_float`),
read by OpenVINO and quantised with NNCF post-training quantisation (transformer preset, int8
MatMuls with activation ranges set to the minimum and maximum seen on the catalog's own photos,
fast bias correction). The activation scales are fixed, so no per-call quantisation pass runs,
unlike ONNX Runtime's dynamic int8 (:mod:`ingest.models.onnx_int8`).

NNCF's default ranges (quantiles) clip the rare photo whose activations exceed them: with the
trained 64-pixel catalog-dev model, 1,024 catalog photos came out at mean cosine 0.998 to
float's but minimum 0.76. With min-max ranges (and without SmoothQuant, which did not help):
mean 0.9998, minimum 0.996, as close as ONNX Runtime's dynamic int8 (minimum 0.995).

The quantised model is cached under ``cache_dir/openvino/<key>`` (the model's fingerprint and
the library versions), next to the ONNX towers; ``meta.json`` there names the photos that
calibrated it. An entry is reused whatever catalog is ingested next with the same model, so
every worker and the service embed with the same int8 model. OpenVINO's compiled-kernel cache
lives in ``cache_dir/openvino/compiled``.

Building an entry takes one float pass over the calibration photos (for ViT-B/16 on 2 cores,
about 2-3 minutes for 300 photos), once per model. Without a cached entry and without photos
to calibrate on, :func:`vision_tower` returns ``None`` and the caller uses another runtime.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ingest.images import Preprocess, decode_for_model
from ingest.models import onnx_int8

log = logging.getLogger(__name__)

FORMAT = 2  # bump when what is exported or how it is quantised changes
#: Photos that calibrate the activation scales (NNCF's default subset size).
CALIBRATION_PHOTOS = 300
_MAX_PIXELS = 1 << 30  # photos are only decoded reduced here; the ingest applies its own limit
MODEL_FILE = "model-int8.xml"


def available() -> bool:
    """Whether OpenVINO, NNCF and the ONNX exporter are installed (without importing NNCF,
    which takes seconds)."""
    return all(importlib.util.find_spec(m) is not None for m in ("openvino", "nncf", "onnx"))


def cache_key(fingerprint: dict) -> str:
    """The cache entry name of one model's image tower, under these library versions."""
    import openvino
    import transformers

    blob = json.dumps(
        {
            "fingerprint": fingerprint,
            "tower": "vision",
            "format": FORMAT,
            "calibration_photos": CALIBRATION_PHOTOS,
            "torch": torch.__version__,
            "openvino": openvino.__version__,
            "nncf": importlib.metadata.version("nncf"),
            "transformers": transformers.__version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class OpenVinoTower:
    """The int8 image tower compiled for the CPU: ``pixel_values`` in, float32 embeddings out.

    ``run`` may be called from several threads at once (one inference request per thread).
    """

    kind = "openvino-int8"

    def __init__(self, path: Path, threads: int, compiled_cache: Path | None = None) -> None:
        import openvino as ov

        config: dict = {"INFERENCE_NUM_THREADS": max(1, threads), "PERFORMANCE_HINT": "LATENCY"}
        if compiled_cache is not None:
            config["CACHE_DIR"] = str(compiled_cache)
        self.path = path
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self._local = threading.local()

    def run(self, **feeds: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        out = request.infer({0: np.ascontiguousarray(feeds["pixel_values"], dtype=np.float32)})
        return np.array(out[0], dtype=np.float32)  # a copy: the request reuses its buffers


def calibration_sample(photos: Sequence[str | Path], n: int = CALIBRATION_PHOTOS) -> list[Path]:
    """``n`` photos spread evenly over ``photos`` in path order (all of them when fewer), so
    every worker of one catalog picks the same ones."""
    ordered = sorted(Path(p) for p in photos)
    if len(ordered) <= n:
        return ordered
    return [ordered[i * len(ordered) // n] for i in range(n)]


def vision_tower(
    model: torch.nn.Module,
    *,
    fingerprint: dict,
    cache_dir: Path,
    preprocess: Preprocess,
    photos: Sequence[str | Path] = (),
    threads: int | None = None,
) -> OpenVinoTower | None:
    """The OpenVINO int8 image tower of ``model``, or ``None`` when it cannot be had.

    Read from ``cache_dir`` when an entry for this model exists and loads; otherwise built from
    ``model`` (left untouched) and calibrated on :func:`calibration_sample` of ``photos``, then
    written atomically. ``None`` when there is no entry and no photo to calibrate on decodes.

    Args:
        preprocess: The model's preprocessing (calibration photos are decoded with it).
        photos: The catalog's photo files (or any superset of a few hundred of them).
    """
    threads = threads or torch.get_num_threads()
    root = Path(cache_dir).expanduser() / "openvino"
    entry = root / cache_key(fingerprint)
    compiled = root / "compiled"
    if (entry / MODEL_FILE).is_file():
        try:
            return OpenVinoTower(entry / MODEL_FILE, threads, compiled)
        except Exception as e:  # noqa: BLE001 - any unreadable entry is rebuilt
            log.warning("cached OpenVINO tower %s is unreadable (%s); building it again", entry, e)
            shutil.rmtree(entry, ignore_errors=True)
    used, calibration = _calibration_pixels(calibration_sample(photos), preprocess)
    if not calibration:
        return None
    meta = {"fingerprint": fingerprint, "calibration_photos": [str(p) for p in used]}
    try:
        _build(model, calibration, entry, meta)
    except OSError as e:  # the cache dir is not writable (or full): build for this run only
        log.warning(
            "cannot write the OpenVINO tower cache in %s (%s); building it for this run only. "
            "Set TUWEN_CACHE_DIR to a writable directory to keep it.",
            cache_dir,
            e,
        )
        with tempfile.TemporaryDirectory(prefix="tuwen-openvino-") as tmp:
            entry = Path(tmp) / "entry"
            _build(model, calibration, entry, meta)
            return OpenVinoTower(entry / MODEL_FILE, threads)  # compiled in memory
    return OpenVinoTower(entry / MODEL_FILE, threads, compiled)


def _calibration_pixels(
    photos: list[Path], preprocess: Preprocess
) -> tuple[list[Path], list[np.ndarray]]:
    """The photos that decode, and their normalised ``(1, 3, H, W)`` arrays."""
    used, arrays = [], []
    for p in photos:
        arr = decode_for_model(str(p), preprocess, _MAX_PIXELS)
        if not isinstance(arr, str):
            used.append(p)
            arrays.append(preprocess.normalise(arr[None]))
    return used, arrays


_build_lock = threading.Lock()


def _build(model, calibration: list[np.ndarray], entry: Path, meta: dict) -> None:
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    entry.parent.mkdir(parents=True, exist_ok=True)
    log.info(
        "quantising the vision tower to int8 OpenVINO on %d catalog photos, once for this "
        "model (minutes)",
        len(calibration),
    )
    h, w = calibration[0].shape[-2:]
    example = {"pixel_values": torch.zeros(2, 3, h, w)}
    with _build_lock, tempfile.TemporaryDirectory(dir=entry.parent, prefix=".tmp-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        onnx_int8.export_float(model, "vision", ("pixel_values",), example, False, onnx_path)
        # NNCF draws its progress bars on stdout, which belongs to the command's own output
        with contextlib.redirect_stdout(sys.stderr):
            quantised = nncf.quantize(
                ov.Core().read_model(str(onnx_path)),
                nncf.Dataset(calibration),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(calibration),
                advanced_parameters=AdvancedQuantizationParameters(
                    activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
                    smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1),  # off
                ),
            )
        staged = Path(tmp) / "entry"
        staged.mkdir()
        ov.save_model(quantised, str(staged / MODEL_FILE), compress_to_fp16=False)
        (staged / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            staged.rename(entry)
        except OSError:
            if not (entry / MODEL_FILE).is_file():  # pragma: no cover - lost a race oddly
                raise
    log.info("cached the int8 OpenVINO vision tower in %s", entry)
