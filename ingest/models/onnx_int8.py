"""CLIP towers as ONNX Runtime sessions with dynamically quantised int8 weights (CPU).

A tower is exported once from the loaded float model (TorchScript ONNX exporter, dynamic batch
and sequence axes), its MatMul weights quantised to int8 (``quantize_dynamic``: activations are
quantised per call, so no calibration data is needed), and the result cached on disk under a
key of the model's fingerprint and the library versions. Later loads read the cached file.

On the 2-core AVX512-VNNI CPU of ``bench/``, for the Chinese-CLIP ViT-B/16 shape, this runs the
image tower at 1.1-1.7x and one text query at 1.0-1.7x the speed of torch's own dynamic int8
(``bench/routes.py``, route ``onnx``; the machine is noisy), with vectors within cosine 0.999 of
float's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from ingest.models.towers import pooled

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is exported changes, so old cache entries are not reused
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def available() -> bool:
    """Whether ONNX Runtime and its quantiser can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class _Text(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, token_type_ids: bool) -> None:
        super().__init__()
        self.model = model
        self.token_type_ids = token_type_ids

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"token_type_ids": token_type_ids} if self.token_type_ids else {}
        return pooled(
            self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask, **kw)
        )


class _Vision(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return pooled(self.model.get_image_features(pixel_values=pixel_values))


class OnnxTower:
    """One tower's int8 ONNX Runtime session: named numpy inputs in, float32 embeddings out.

    ``run`` may be called from several threads at once (ONNX Runtime sessions are thread-safe).
    """

    kind = "onnx-int8"

    def __init__(self, path: Path, input_names: tuple[str, ...], threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: a spinning thread holds a core that
        # the HTTP server and the store need (bench/search_load.py: 16 clients 88-95 req/s
        # with spinning off, 82 with it on; one client no slower).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.input_names = input_names
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(self, **feeds: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {k: feeds[k] for k in self.input_names})[0]
        return np.asarray(out, dtype=np.float32)


def cache_key(fingerprint: dict, tower: str) -> str:
    """The cache entry name for one tower of one model, under these library versions."""
    import onnxruntime
    import transformers

    blob = json.dumps(
        {
            "fingerprint": fingerprint,
            "tower": tower,
            "format": FORMAT,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "transformers": transformers.__version__,  # the modelling code that is traced
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def int8_tower(
    model: torch.nn.Module,
    tower: str,
    *,
    fingerprint: dict,
    cache_dir: Path,
    example: dict[str, torch.Tensor],
    token_type_ids: bool = False,
    threads: int | None = None,
) -> OnnxTower:
    """The int8 ONNX session for ``tower`` (``"text"`` or ``"vision"``) of ``model``.

    Read from ``cache_dir`` when an entry for this fingerprint exists and loads; otherwise
    exported from ``model`` (left untouched: a float32 copy is exported), quantised and
    written atomically, so concurrent processes and crashes never leave a partial entry.

    Args:
        example: inputs to trace the export with (a padded batch of two for the text tower,
            so padding masks are exercised).
    """
    names = TEXT_INPUTS if tower == "text" else ("pixel_values",)
    if tower == "text" and not token_type_ids:
        names = names[:2]
    threads = threads or torch.get_num_threads()
    entry = Path(cache_dir).expanduser() / "onnx" / cache_key(fingerprint, tower)
    path = entry / "model-int8.onnx"
    if path.is_file():
        try:
            return OnnxTower(path, names, threads)
        except Exception as e:  # noqa: BLE001 - any unreadable entry is rebuilt
            log.warning("cached ONNX tower %s is unreadable (%s); exporting it again", path, e)
            shutil.rmtree(entry, ignore_errors=True)
    try:
        _export(model, tower, names, example, token_type_ids, entry)
    except OSError as e:  # the cache dir is not writable (or full): export for this run only
        log.warning(
            "cannot write the int8 tower cache in %s (%s); exporting for this run only. Set "
            "TUWEN_CACHE_DIR to a writable directory to keep it.",
            cache_dir,
            e,
        )
        with tempfile.TemporaryDirectory(prefix="tuwen-onnx-") as tmp:
            entry = Path(tmp) / "entry"
            _export(model, tower, names, example, token_type_ids, entry)
            return OnnxTower(entry / path.name, names, threads)  # read whole into memory
    return OnnxTower(path, names, threads)


_export_lock = threading.Lock()


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    # quantize_dynamic advises (on the root logger, every call) a shape-inference pass that
    # fails on these graphs and does not change the quantised MatMuls.
    return "pre-processing before quantization" not in record.getMessage()


def export_float(
    model: torch.nn.Module,
    tower: str,
    names: tuple[str, ...],
    example: dict[str, torch.Tensor],
    token_type_ids: bool,
    path: Path,
) -> None:
    """Write ``tower`` of a float32 copy of ``model`` as an ONNX graph to ``path``: dynamic
    batch (and, for text, token) axes, one ``embedding`` output (pooled, not normalised)."""
    body = copy.deepcopy(model).float().eval()
    module = _Text(body, token_type_ids) if tower == "text" else _Vision(body)
    args = tuple(example[n].cpu() for n in names)
    axes: dict = {n: {0: "batch", 1: "tokens"} for n in names} if tower == "text" else {}
    axes = axes or {"pixel_values": {0: "batch"}}
    axes["embedding"] = {0: "batch"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=list(names),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def quantize_int8(fp32: Path, int8: Path) -> None:
    """ONNX Runtime's dynamic int8 quantisation of the float model ``fp32`` into ``int8``
    (int8 weights), without its advice to pre-process the model first."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_no_preprocessing_advice)
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(_no_preprocessing_advice)


def _export(model, tower, names, example, token_type_ids, entry: Path) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting the %s tower to int8 ONNX, once for this model (seconds)", tower)
    with _export_lock, tempfile.TemporaryDirectory(dir=entry.parent, prefix=".tmp-") as tmp:
        fp32, int8 = Path(tmp) / "model.onnx", Path(tmp) / "model-int8.onnx"
        export_float(model, tower, names, example, token_type_ids, fp32)
        quantize_int8(fp32, int8)
        fp32.unlink()
        staged = Path(tmp) / "entry"
        staged.mkdir()
        int8.rename(staged / int8.name)
        try:
            staged.rename(entry)
        except OSError:
            if not (entry / int8.name).is_file():  # pragma: no cover - lost a race oddly
                raise
    log.info("cached the int8 %s tower in %s", tower, entry)
