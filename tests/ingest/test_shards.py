"""``tuwen ingest --shard I/N``: N shares run one after another equal one full run."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.shards import Shard
from ingest.store import CAPTION, IMAGE, KEYWORDS, EdgeStore, ServerStore, point_id
from tests.conftest import make_catalog

N = 3


@pytest.fixture(params=["edge", "server"])
def open_store(request, tmp_path):
    def make(name: str):
        if request.param == "edge":
            return EdgeStore(tmp_path / name, "products")
        from qdrant_client import QdrantClient

        return ServerStore(QdrantClient(":memory:"), "products", ":memory:")

    return make


def ingest(images, captions, store, encoder, **kw):
    return run_ingest(
        load_catalog(images, captions),
        store,
        encoder,
        progress=False,
        workers=1,
        batch_size=4,
        **kw,
    )


def snapshot(store) -> tuple[dict, dict]:
    """Every point's payload (less its write time) and its vectors (sparse ones as pairs),
    by file."""
    payloads, vectors = {}, {}
    for p in store.get(list(store.manifest()), [IMAGE, CAPTION, KEYWORDS]):
        payloads[p.file] = {k: v for k, v in p.payload.items() if k != "ingested_at"}
        vectors[p.file] = {
            k: np.concatenate([v.indices, v.values]) if hasattr(v, "indices") else np.asarray(v)
            for k, v in p.vectors.items()
        }
    return payloads, vectors


def assert_same(got: tuple[dict, dict], expected: tuple[dict, dict]) -> None:
    assert got[0] == expected[0]
    assert got[1].keys() == expected[1].keys()
    for file, vecs in expected[1].items():
        assert got[1][file].keys() == vecs.keys(), file
        for name, v in vecs.items():  # batches of other sizes round differently in float32
            assert np.allclose(got[1][file][name], v, atol=1e-5), (file, name)


def test_shard_spec_is_parsed_and_checked():
    assert Shard.parse(" 2/5 ") == Shard(2, 5)
    for bad in ("5/5", "1", "-1/3", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            Shard.parse(bad)


def test_shares_partition_the_catalog_deterministically(tmp_path):
    images, captions = make_catalog(tmp_path / "cat", n=30, captioned=20)
    items = load_catalog(images, captions).items
    shares = [Shard(i, N).items(items) for i in range(N)]
    rels = [i.rel for s in shares for i in s]
    assert sorted(rels) == sorted(i.rel for i in items)  # each photo in exactly one share
    assert all(shares)  # 30 photos over 3 shares: none empty
    assert [i.rel for i in Shard(1, N).items(reversed(items))] == [
        i.rel for i in reversed(shares[1])
    ]
    assert all(Shard(1, N).owns(point_id(i.rel)) for i in shares[1])


def test_shards_one_after_another_equal_one_full_run(open_store, tmp_path, tiny_encoder):
    images, captions = make_catalog(tmp_path / "cat", n=14, captioned=10)
    with open_store("full") as full:
        ingest(images, captions, full, tiny_encoder)
        expected = snapshot(full)
    with open_store("sharded") as sharded:
        added = 0
        for i in range(N):
            added += ingest(images, captions, sharded, tiny_encoder, shard=Shard(i, N)).added
        assert added == 14
        assert_same(snapshot(sharded), expected)
        again = ingest(images, captions, sharded, tiny_encoder, shard=Shard(0, N))
        assert again.added == again.updated == again.upgraded == 0


def test_prune_with_a_shard_prunes_only_that_share(open_store, tmp_path, tiny_encoder):
    images, captions = make_catalog(tmp_path / "cat", n=14, captioned=10)
    catalog = load_catalog(images, captions)
    with open_store("data") as store:
        ingest(images, captions, store, tiny_encoder)
        gone_in = {i: Shard(i, N).items(catalog.items)[0] for i in range(N)}
        for item in gone_in.values():
            item.path.unlink()
        r = ingest(images, captions, store, tiny_encoder, prune=True, shard=Shard(0, N))
        assert r.removed == 1
        left = {e.file for e in store.manifest().values()}
        assert gone_in[0].rel not in left
        assert {gone_in[1].rel, gone_in[2].rel} <= left  # other workers' shares untouched


def test_cli_shards_add_up_and_a_bad_spec_is_a_usage_error(
    tmp_path, monkeypatch, capsys, tiny_clip_dir
):
    from service.cli import main

    monkeypatch.setenv("TUWEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TUWEN_CLIP_MODEL", str(tiny_clip_dir))
    monkeypatch.setenv("TUWEN_DTYPE", "float32")
    monkeypatch.setenv("TUWEN_DECODE_WORKERS", "1")
    images, captions = make_catalog(tmp_path / "cat", n=8, captioned=6)
    assert main(["ingest", str(images), "--captions", str(captions), "--shard", "2/2", "-q"]) != 0
    assert "--shard '2/2'" in capsys.readouterr().err
    for i in range(2):
        args = ["ingest", str(images), "--captions", str(captions), "--shard", f"{i}/2", "-q"]
        assert main(args) == 0
    with EdgeStore(tmp_path / "data") as store:
        assert store.count() == 8
