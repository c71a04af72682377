"""Generated captions for photos without one: stored as generated, never over a real caption,
replaced by a real caption added later, idempotent per captioner; and the captioner choice."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from ingest.captioners import CaptionerUnavailable, captioner_from
from ingest.captioning import Captioner, Generated
from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.keywords import sparse_vector
from ingest.settings import Settings
from ingest.store import CAPTION, IMAGE, KEYWORDS, EdgeStore, Leg, Search
from tests.conftest import make_catalog

UNCAPTIONED = ["sub/1007.jpg", "1008.jpg", "1009.jpg"]


LIKELY = {"color": {"黑色": 0.8, "藏青色": 0.15}, "category": {"衬衫": 0.9}, "bogus": {"x": 1.0}}


class FakeCaptioner:
    """Proposes "男士黑色衬衫" with predicted colour and gender (and plausible values, one of an
    unknown field); records what it saw."""

    def __init__(self, name: str = "fake-v1") -> None:
        self.name = name
        self.seen: list[tuple[tuple[int, int], np.ndarray]] = []

    def caption(self, images, image_vectors):
        self.seen += [(im.size, v) for im, v in zip(images, image_vectors, strict=True)]
        return [Generated("男士黑色衬衫", {"color": "黑", "gender": "男"}, LIKELY) for _ in images]


@pytest.fixture
def cat(tmp_path):
    return make_catalog(tmp_path / "cat", n=10, captioned=7)


def ingest(images, captions, store, encoder, **kw):
    catalog = load_catalog(images, captions)
    return run_ingest(catalog, store, encoder, progress=False, workers=1, batch_size=4, **kw)


def test_the_fake_is_a_captioner():
    assert isinstance(FakeCaptioner(), Captioner)


def test_uncaptioned_photos_get_a_generated_caption_and_real_ones_are_never_touched(
    cat, tmp_path, tiny_encoder
):
    images, captions = cat
    fake = FakeCaptioner()
    with EdgeStore(tmp_path / "data") as store:
        r = ingest(images, captions, store, tiny_encoder, captioner=fake)
        assert (r.added, r.generated, r.captioned) == (10, 3, 3)
        assert "generated 3" in r.summary() and "images/s" in r.summary()
        assert r.to_json()["generated"] == 3
        assert len(fake.seen) == 3 and all(size == (48, 40) for size, _ in fake.seen)  # own size
        expected = tiny_encoder.encode_texts(["男士黑色衬衫"])[0]
        for name in UNCAPTIONED:
            p = store.get_file(name, [IMAGE, CAPTION, KEYWORDS])
            assert p.caption == "男士黑色衬衫" and p.payload["caption_source"] == "generated"
            assert p.payload["captioner"] == "fake-v1" and not p.payload["has_caption"]
            assert p.payload["attributes"] == {
                "gender": "男士",
                "color": "黑色",
                "category": "衬衫",
            }
            assert p.payload["attribute_source"] == "predicted"
            assert p.payload["likely"] == {k: v for k, v in LIKELY.items() if k != "bogus"}
            assert p.payload["plausible"] == {"color": ["黑色", "藏青色"], "category": ["衬衫"]}
            assert np.allclose(p.vectors[CAPTION], expected, atol=1e-5)
            assert p.vectors[KEYWORDS].indices == sparse_vector("男士黑色衬衫").indices
            assert any(np.allclose(v, p.vectors[IMAGE], atol=1e-5) for _, v in fake.seen)
        real = store.get_file("1000.jpg").payload
        assert real["caption"].startswith("Peter England") and "captioner" not in real
        assert real["caption_source"] == "caption"
        assert store.count(captioned_only=True) == 7 and store.count(generated_only=True) == 3


def test_a_rerun_with_the_same_captioner_changes_nothing_and_another_one_regenerates(
    cat, tmp_path, tiny_encoder
):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder, captioner=FakeCaptioner())
        again = FakeCaptioner()
        r = ingest(images, captions, store, tiny_encoder, captioner=again)
        assert (r.generated, r.captioned, r.embedded, r.unchanged) == (0, 0, 0, 10)
        assert again.seen == []
        plain = ingest(images, captions, store, tiny_encoder)  # no captioner: kept as they are
        assert plain.generated == 0 and store.get_file("1008.jpg").caption == "男士黑色衬衫"
        other = FakeCaptioner("fake-v2")
        r = ingest(images, captions, store, tiny_encoder, captioner=other)
        assert (r.generated, len(other.seen)) == (3, 3)
        assert store.get_file("1008.jpg").payload["captioner"] == "fake-v2"


def test_a_real_caption_added_later_replaces_the_generated_one(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder, captioner=FakeCaptioner())
        with captions.open("a", encoding="utf-8") as fh:
            fh.write("1009.jpg,Quillon女士红色连衣裙\n")
        fake = FakeCaptioner()
        r = ingest(images, captions, store, tiny_encoder, captioner=fake)
        assert (r.updated, r.embedded, r.generated, fake.seen) == (1, 0, 0, [])
        p = store.get_file("1009.jpg", [CAPTION])
        assert p.caption == "Quillon女士红色连衣裙" and p.payload["caption_source"] == "caption"
        assert "captioner" not in p.payload and p.payload["attribute_source"] == "caption"
        assert "likely" not in p.payload and "plausible" not in p.payload
        assert p.payload["attributes"]["color"] == "红色"
        expected = tiny_encoder.encode_texts(["Quillon女士红色连衣裙"])[0]
        assert np.allclose(p.vectors[CAPTION], expected, atol=1e-5)


def test_a_changed_photo_loses_its_generated_caption_unless_captioned_again(
    cat, tmp_path, tiny_encoder
):
    from tests.conftest import photo

    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder, captioner=FakeCaptioner())
        photo((10, 200, 30), seed=99).save(images / "1008.jpg")
        r = ingest(images, captions, store, tiny_encoder)
        assert r.updated == 1 and store.get_file("1008.jpg").caption is None
        fake = FakeCaptioner()
        r = ingest(images, captions, store, tiny_encoder, captioner=fake)
        assert (r.generated, len(fake.seen)) == (1, 1)


def test_generated_captions_are_found_by_text_but_are_no_neighbours(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder, captioner=FakeCaptioner())
        words = Leg(sparse_vector("黑色衬衫"), KEYWORDS, 10)
        found = [h.file for h in store.search(Search((words,), limit=10))]
        assert set(UNCAPTIONED) <= set(found)
        annotated = store.search(Search((words,), limit=10, captioned_only=True))
        assert not set(UNCAPTIONED) & {h.file for h in annotated}
        from service.answering.retrieve import Retriever

        retriever = Retriever(store, tiny_encoder)
        query = retriever.resolve_image("1008.jpg")
        assert query.caption is None  # not the photo's own annotation
        assert "1008.jpg" not in [h.file for h in retriever.neighbours(query, 5)]
        assert retriever.resolve_image("1000.jpg").caption.startswith("Peter England")


def test_a_captioner_that_miscounts_is_an_error_naming_it(cat, tmp_path, tiny_encoder):
    images, captions = cat

    class Short(FakeCaptioner):
        def caption(self, images, image_vectors):
            return super().caption(images, image_vectors)[:-1]

    with EdgeStore(tmp_path / "data") as store, pytest.raises(ValueError, match="short-v1"):
        ingest(images, captions, store, tiny_encoder, captioner=Short("short-v1"))


# ---------------------------------------------------------------------- choosing the captioner


def test_without_a_captioning_model_the_clip_models_heads_are_asked(tmp_path, monkeypatch):
    made = {}

    class Heads:
        @classmethod
        def from_model_dir(cls, where):
            made["dir"] = where
            return FakeCaptioner("heads")

    module = types.ModuleType("ingest.vqa.captioner")
    module.HeadsCaptioner = Heads
    monkeypatch.setitem(sys.modules, "ingest.vqa.captioner", module)
    got = captioner_from(None, tmp_path, object(), Settings())
    assert got.name == "heads" and made["dir"] == tmp_path


def test_a_captioning_model_is_loaded_by_its_id(monkeypatch):
    asked = {}

    class Vlm:
        @classmethod
        def from_pretrained(cls, id_or_dir, *, device="auto", dtype="auto"):
            asked.update(id=id_or_dir, device=device)
            return FakeCaptioner("vlm")

    module = types.ModuleType("ingest.models.vlm_captioner")
    module.VlmCaptioner = Vlm
    monkeypatch.setitem(sys.modules, "ingest.models.vlm_captioner", module)
    got = captioner_from("org/captioner", None, object(), Settings(device="cpu"))
    assert got.name == "vlm" and asked == {"id": "org/captioner", "device": "cpu"}


def test_unavailable_captioners_are_errors_naming_the_flag(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ingest.vqa.captioner", None)  # not in this build
    with pytest.raises(CaptionerUnavailable, match="--caption-uncaptioned"):
        captioner_from(None, tmp_path, object(), Settings())
    monkeypatch.setitem(sys.modules, "ingest.models.vlm_captioner", None)
    with pytest.raises(CaptionerUnavailable, match="--caption-model"):
        captioner_from("org/captioner", None, object(), Settings())

    class NoHeads:
        @classmethod
        def from_model_dir(cls, where):
            return None

    module = types.ModuleType("ingest.vqa.captioner")
    module.HeadsCaptioner = NoHeads
    monkeypatch.setitem(sys.modules, "ingest.vqa.captioner", module)
    with pytest.raises(CaptionerUnavailable, match="no answer heads.*--caption-model"):
        captioner_from(None, tmp_path, object(), Settings())
    with pytest.raises(CaptionerUnavailable, match="not a local directory"):
        captioner_from(None, "org/hub-clip", object(), Settings())


def test_the_ingest_command_checks_its_captioning_flags(cat, tmp_path, capsys, monkeypatch):
    from service.cli import main

    images, captions = cat
    monkeypatch.setenv("TUWEN_DATA_DIR", str(tmp_path / "data"))
    args = ["ingest", str(images), "--captions", str(captions), "-q"]
    assert main([*args, "--caption-model", "org/m"]) == 1
    assert "--caption-uncaptioned" in capsys.readouterr().err
    assert main([*args, "--caption-uncaptioned", "--via", "http://127.0.0.1:9"]) == 1
    assert "--via" in capsys.readouterr().err
