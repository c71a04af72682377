"""Document and query roles: float captions for what is stored, int8 text for queries, one copy
of the float weights."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.models.clip import ClipEncoder
from ingest.models.roles import encoders_for, load_encoders
from ingest.settings import DEFAULT_CLIP_MODEL, Settings

TEXTS = ["男士黑色衬衫", "女士红色连衣裙 Vero Moda", "ASICS 运动鞋"]


def pixels(n: int, size: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, *size, 3), dtype=np.uint8)


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_documents_are_float_queries_int8_over_one_set_of_float_weights(
    tiny_clip_dir, tiny_encoder, tmp_path, runtime
):
    enc = load_encoders(
        tiny_clip_dir, dtype="float32", int8_runtime=runtime, cache_dir=tmp_path, device="cpu"
    )
    q8 = f"{runtime}-int8"
    assert enc.document.runtime == {"text": "torch-float32", "vision": q8}
    assert enc.query.runtime == {"text": q8, "vision": q8}
    assert enc.fingerprint == enc.query.fingerprint == tiny_encoder.fingerprint
    # the document role embeds captions exactly as a float model does...
    assert np.array_equal(enc.document.encode_texts(TEXTS), tiny_encoder.encode_texts(TEXTS))
    # ...the query role in int8: close to float, not equal
    query = enc.query.encode_texts(TEXTS)
    assert (query * tiny_encoder.encode_texts(TEXTS)).sum(1).min() > 0.98
    assert not np.allclose(query, tiny_encoder.encode_texts(TEXTS), atol=1e-4)
    # both roles see photos alike
    px = pixels(3, enc.document.preprocess.output_size)
    assert np.array_equal(enc.document.encode_pixels(px), enc.query.encode_pixels(px))
    # one copy of the float weights: the query role holds no second float model
    assert enc.query.model is not enc.document.model
    assert enc.query.model.vision_model is enc.document.model.vision_model
    word = "text_model.embeddings.word_embeddings.weight"
    shared = dict(enc.document.model.named_parameters())[word]
    if runtime == "onnx":  # the float text tower stays in place; ONNX Runtime runs the int8 one
        assert dict(enc.query.model.named_parameters())[word] is shared
    else:  # the int8 text tower replaced the float one on the query's model object only
        assert type(enc.query.model.text_projection).__module__.startswith("torch.ao")
        assert not type(enc.document.model.text_projection).__module__.startswith("torch.ao")


def test_without_int8_both_roles_are_one_encoder(tiny_clip_dir):
    enc = load_encoders(tiny_clip_dir, dtype="float32", text_int8=False, image_int8=False)
    assert enc.query is enc.document
    assert enc.document.runtime == {"text": "torch-float32", "vision": "torch-float32"}


def test_image_int8_alone_leaves_both_text_towers_float(tiny_clip_dir, tmp_path):
    enc = load_encoders(tiny_clip_dir, dtype="float32", text_int8=False, cache_dir=tmp_path)
    assert enc.query is enc.document
    assert enc.document.runtime == {"text": "torch-float32", "vision": "onnx-int8"}


def test_lazy_roles_load_once_on_first_use(tiny_clip_dir, tiny_encoder, tmp_path):
    enc = load_encoders(tiny_clip_dir, dtype="float32", cache_dir=tmp_path, lazy=True)
    assert not enc.document.loaded and not enc.query.loaded
    assert enc.fingerprint == enc.query.fingerprint == tiny_encoder.fingerprint
    assert np.array_equal(enc.document.encode_texts(TEXTS), tiny_encoder.encode_texts(TEXTS))
    assert enc.document.loaded and not enc.query.loaded  # ingest never loads the query role
    assert enc.query.runtime["text"] == "onnx-int8"
    assert enc.query.model.vision_model is enc.document.model.vision_model


def test_with_int8_is_a_no_op_without_towers(tiny_encoder):
    assert tiny_encoder.with_int8(()) is tiny_encoder
    assert isinstance(tiny_encoder.with_int8(("text",), "torch"), ClipEncoder)
    assert tiny_encoder.runtime["text"] == "torch-float32"  # the source is left float


def test_on_a_gpu_the_query_role_is_the_float_document_encoder(tiny_encoder):
    import torch

    e = tiny_encoder
    gpu = ClipEncoder(e.model, e.tokenizer, e.preprocess, e.fingerprint, torch.device("cuda"))
    assert gpu.with_int8(("text",)) is gpu  # int8 towers are a CPU speed-up only


def test_queries_are_int8_on_cpu_and_documents_keep_the_float_text_tower(tiny_clip_dir, tmp_path):
    def runtimes(**kw) -> tuple[dict[str, str], dict[str, str]]:
        # A cache of its own: an OpenVINO image tower another test cached for this model
        # would be used by `auto`.
        settings = Settings(
            clip_model=str(tiny_clip_dir), device="cpu", dtype="float32", cache_dir=tmp_path, **kw
        )
        encoders = encoders_for(settings, store=None)  # the model is given: no store needed
        return encoders.document.runtime, encoders.query.runtime

    # With no OpenVINO tower cached and no photos to calibrate one, both towers run int8 in
    # ONNX Runtime for queries; documents (captions at ingest and at upload) always get the
    # float text tower, and the same int8 image tower
    assert runtimes() == (
        {"text": "torch-float32", "vision": "onnx-int8"},
        {"text": "onnx-int8", "vision": "onnx-int8"},
    )
    assert runtimes(int8_runtime="torch") == (
        {"text": "torch-float32", "vision": "torch-int8"},
        {"text": "torch-int8", "vision": "torch-int8"},
    )
    document, query = runtimes(text_int8=False)
    assert document == query == {"text": "torch-float32", "vision": "onnx-int8"}
    float32 = {"text": "torch-float32", "vision": "torch-float32"}
    assert runtimes(text_int8=False, image_int8=False) == (float32, float32)


def test_the_model_is_the_one_set_else_the_collections_else_the_default(
    tiny_clip_dir, tmp_path, monkeypatch
):
    import ingest.models.roles as roles
    from ingest.models.fingerprint import Fingerprint
    from ingest.store import EdgeStore

    asked: list[str] = []
    monkeypatch.setattr(roles, "load_encoders", lambda name, **kw: asked.append(str(name)))
    with EdgeStore(tmp_path / "data") as store:
        roles.encoders_for(Settings(clip_model="set/model"), store)
        roles.encoders_for(Settings(), store)  # no collection yet
        store.ensure(Fingerprint(str(tiny_clip_dir), "local-1", 16))
        roles.encoders_for(Settings(), store)
    assert asked == ["set/model", DEFAULT_CLIP_MODEL, str(tiny_clip_dir)]
