"""Change planning by content hash: the one planner of local runs, uploads and ``--via``."""

from __future__ import annotations

from ingest.catalog import CatalogItem
from ingest.plan import content_hashes, entries_from_hashes, plan
from ingest.store import StoredEntry, point_id


def items(tmp_path, spec):
    """Files named in ``spec`` ({rel: (bytes, caption)}) written under tmp_path."""
    out = []
    for rel, (data, caption) in spec.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append(CatalogItem(rel, path, caption))
    return out


def stored_as(item, data, caption):
    h, ih = content_hashes(data, caption)
    return point_id(item.rel), StoredEntry(item.rel, h, ih)


def test_content_hash_covers_bytes_and_caption_and_image_hash_only_bytes():
    h1, i1 = content_hashes(b"abc", "红色")
    h2, i2 = content_hashes(b"abc", "蓝色")
    h3, i3 = content_hashes(b"abd", "红色")
    assert i1 == i2 != i3
    assert len({h1, h2, h3}) == 3
    assert content_hashes(b"abc", None) == content_hashes(b"abc", "")


def test_plan_sorts_items_into_new_changed_caption_only_unchanged_stale_unreadable(tmp_path):
    cat = items(
        tmp_path,
        {
            "same.jpg": (b"1", "衬衫"),
            "caption.jpg": (b"2", "新的"),
            "photo.jpg": (b"3-new", "鞋"),
            "new.jpg": (b"4", None),
        },
    )
    missing = CatalogItem("gone-from-disk.jpg", tmp_path / "gone-from-disk.jpg", None)
    stored = dict(
        [
            stored_as(cat[0], b"1", "衬衫"),
            stored_as(cat[1], b"2", "旧的"),
            stored_as(cat[2], b"3-old", "鞋"),
            (point_id("deleted.jpg"), StoredEntry("deleted.jpg", "h", "i")),
        ]
    )
    p = plan([*cat, missing], stored)
    assert p.unchanged == 1
    assert [(w.item.rel, w.is_new, w.caption_only) for w in p.work] == [
        ("caption.jpg", False, True),
        ("photo.jpg", False, False),
        ("new.jpg", True, False),
    ]
    assert p.work[0].hash == content_hashes(b"2", "新的")[0]
    assert p.stale == [point_id("deleted.jpg")]  # an unreadable file is not stale
    assert [u["file"] for u in p.unreadable] == ["gone-from-disk.jpg"]
    assert p.unreadable[0]["reason"].startswith("cannot read file")


def test_a_served_manifest_plans_by_hash_and_never_caption_only(tmp_path):
    cat = items(tmp_path, {"a.jpg": (b"1", "x"), "sub/b.jpg": (b"2", "y")})
    served = {
        "a.jpg": content_hashes(b"1", "x")[0],
        "sub/b.jpg": content_hashes(b"2", "old")[0],
        "old.jpg": "whatever",
    }
    stored = entries_from_hashes(served)
    p = plan(cat, stored)
    assert p.unchanged == 1
    assert [(w.item.rel, w.is_new, w.caption_only) for w in p.work] == [("sub/b.jpg", False, False)]
    assert [stored[pid].file for pid in p.stale] == ["old.jpg"]
