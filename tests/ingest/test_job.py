"""The ingest job: planning by content hash, idempotent reruns, caption changes, prune, kill -9."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from PIL import Image

from ingest.catalog import load_catalog
from ingest.job import run_ingest
from ingest.store import CAPTION, IMAGE, KEYWORDS, EdgeStore
from tests.conftest import REPO, make_catalog, photo


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


@pytest.fixture
def cat(tmp_path):
    return make_catalog(tmp_path / "cat", n=10, captioned=7)


def test_first_run_indexes_everything_and_rerun_embeds_nothing(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        r1 = ingest(images, captions, store, tiny_encoder)
        assert (r1.added, r1.updated, r1.unchanged, r1.removed, r1.failed) == (10, 0, 0, 0, [])
        assert r1.embedded == 10
        assert store.count() == 10 and store.count(captioned_only=True) == 7
        r2 = ingest(images, captions, store, tiny_encoder)
        assert (r2.added, r2.updated, r2.unchanged, r2.embedded) == (0, 0, 10, 0)
        got = store.get_file("sub/1003.jpg", [IMAGE, CAPTION, KEYWORDS])
        assert got.caption == "女士连衣裙 Vero Moda 红色 休闲 3号"  # joined by relative path
        assert np.linalg.norm(got.vectors[IMAGE]) == pytest.approx(1.0, abs=1e-5)
        unannotated = store.get_file("1009.jpg", [IMAGE, CAPTION])
        assert unannotated.caption is None and CAPTION not in unannotated.vectors


def test_caption_change_updates_one_point_without_decoding(
    cat, tmp_path, tiny_encoder, monkeypatch
):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        before = store.get_file("1001.jpg", [IMAGE, CAPTION])
        text = captions.read_text(encoding="utf-8").replace(
            "ASICS运动鞋 男士款 白色 运动风格 1号", "ASICS运动鞋 女士款 粉色 运动风格"
        )
        captions.write_text(text, encoding="utf-8")
        import ingest.stages as stages

        def no_decode(*a, **k):
            raise AssertionError("a caption-only change must not decode images")

        monkeypatch.setattr(stages, "decode_for_model", no_decode)
        r = ingest(images, captions, store, tiny_encoder)
        assert (r.added, r.updated, r.unchanged, r.embedded) == (0, 1, 9, 0)
        after = store.get_file("1001.jpg", [IMAGE, CAPTION])
        assert after.caption == "ASICS运动鞋 女士款 粉色 运动风格"
        assert np.allclose(after.vectors[IMAGE], before.vectors[IMAGE], atol=1e-6)
        expected = tiny_encoder.encode_texts(["ASICS运动鞋 女士款 粉色 运动风格"])[0]
        assert np.allclose(after.vectors[CAPTION], expected, atol=1e-5)
        assert after.vectors[CAPTION] != before.vectors[CAPTION]
        assert store.count() == 10


def test_changed_photo_is_re_embedded(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        before = store.get_file("1002.jpg", [IMAGE])
        photo((10, 200, 30), seed=99).save(images / "1002.jpg")
        r = ingest(images, captions, store, tiny_encoder)
        assert (r.added, r.updated, r.unchanged, r.embedded) == (0, 1, 9, 1)
        assert not np.allclose(
            store.get_file("1002.jpg", [IMAGE]).vectors[IMAGE], before.vectors[IMAGE], atol=1e-4
        )


def test_prune_removes_points_of_deleted_photos_only_when_asked(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        (images / "1000.jpg").unlink()
        (images / "sub" / "1007.jpg").unlink()
        r = ingest(images, captions, store, tiny_encoder)
        assert r.removed == 0 and store.count() == 10
        r = ingest(images, captions, store, tiny_encoder, prune=True)
        assert (r.removed, r.unchanged, r.embedded) == (2, 8, 0)
        assert store.count() == 8 and store.get_file("1000.jpg") is None


def test_bad_files_are_reported_and_the_run_goes_on(cat, tmp_path, tiny_encoder):
    images, captions = cat
    (images / "empty.jpg").write_bytes(b"")
    (images / "noise.png").write_bytes(os.urandom(500))
    good = (images / "1000.jpg").read_bytes()
    (images / "cut.jpg").write_bytes(good[: len(good) // 2])
    with EdgeStore(tmp_path / "data") as store:
        r = ingest(images, captions, store, tiny_encoder)
        assert r.added == 10
        reasons = {f["file"]: f["reason"] for f in r.failed}
        assert set(reasons) == {"empty.jpg", "noise.png", "cut.jpg"}
        assert "empty" in reasons["empty.jpg"]
        assert "truncated" in reasons["cut.jpg"] or "corrupt" in reasons["cut.jpg"]
        assert store.count() == 10


def test_exif_rotated_photo_embeds_like_the_upright_one(tmp_path, tiny_encoder):
    images = tmp_path / "exif"
    images.mkdir()
    upright = photo((200, 40, 40), size=(64, 40), seed=3)
    upright.save(images / "upright.jpg", quality=95)
    rotated = upright.transpose(Image.Transpose.ROTATE_90)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with "rotate 90° clockwise to display"
    rotated.save(images / "rotated.jpg", quality=95, exif=exif)
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, None, store, tiny_encoder)
        a = np.asarray(store.get_file("upright.jpg", [IMAGE]).vectors[IMAGE])
        b = np.asarray(store.get_file("rotated.jpg", [IMAGE]).vectors[IMAGE])
    assert float(a @ b) >= 0.99


def test_parallel_decode_workers_give_the_same_vectors(cat, tmp_path, tiny_encoder):
    images, captions = cat
    with EdgeStore(tmp_path / "one") as s1, EdgeStore(tmp_path / "two") as s2:
        ingest(images, captions, s1, tiny_encoder)
        run_ingest(
            load_catalog(images, captions),
            s2,
            tiny_encoder,
            progress=False,
            workers=2,
            batch_size=3,
        )
        for rel in ("1000.jpg", "sub/1003.jpg", "1009.jpg"):
            v1 = s1.get_file(rel, [IMAGE]).vectors[IMAGE]
            v2 = s2.get_file(rel, [IMAGE]).vectors[IMAGE]
            assert np.allclose(v1, v2, atol=1e-5)


# --------------------------------------------------------------------------- kill -9

DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    from ingest.catalog import load_catalog
    from ingest.models.clip import ClipEncoder
    from ingest.job import run_ingest
    from ingest.store import EdgeStore

    model, images, captions, data, kill_after = sys.argv[1:6]
    kill_after = int(kill_after)
    enc = ClipEncoder.from_pretrained(model, dtype="float32")
    written = []

    def on_batch(n):
        written.append(n)
        if len(written) >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    store = EdgeStore(data)
    run_ingest(load_catalog(images, captions), store, enc, progress=False, workers=1,
               batch_size=4, on_batch=on_batch)
    """
)


def snapshot(store):
    out = {}
    for pid, entry in store.manifest().items():
        p = store.get([pid], [IMAGE, CAPTION, KEYWORDS])[0]
        out[pid] = (
            entry.file,
            entry.hash,
            p.caption,
            np.asarray(p.vectors[IMAGE]),
            None if CAPTION not in p.vectors else np.asarray(p.vectors[CAPTION]),
            None if KEYWORDS not in p.vectors else tuple(p.vectors[KEYWORDS].indices),
        )
    return out


def assert_same_collection(a, b):
    assert a.keys() == b.keys()
    for pid in a:
        fa, ha, ca, ia, va, ka = a[pid]
        fb, hb, cb, ib, vb, kb = b[pid]
        assert (fa, ha, ca, ka) == (fb, hb, cb, kb)
        assert np.allclose(ia, ib, atol=1e-5)
        assert (va is None) == (vb is None)
        if va is not None:
            assert np.allclose(va, vb, atol=1e-5)


@pytest.fixture
def clean_run(tmp_path, tiny_encoder):
    """A 24-photo catalog and the snapshot of a clean, uninterrupted run over it."""
    images, captions = make_catalog(tmp_path / "cat", n=24, captioned=18)
    with EdgeStore(tmp_path / "clean") as clean:
        ingest(images, captions, clean, tiny_encoder)
        return images, captions, snapshot(clean)


def child_env():
    return dict(os.environ, PYTHONPATH=str(REPO), TUWEN_DTYPE="float32", TUWEN_IMAGE_INT8="0")


@pytest.mark.slow
def test_kill_9_after_several_batches_then_rerun_equals_a_clean_run(
    clean_run, tmp_path, tiny_clip_dir, tiny_encoder
):
    images, captions, expected = clean_run
    env = child_env()
    for kill_after in (1, 3, 5):
        data = tmp_path / f"killed-{kill_after}"
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                DRIVER,
                str(tiny_clip_dir),
                str(images),
                str(captions),
                str(data),
                str(kill_after),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        with EdgeStore(data) as store:
            partial = store.count()
            assert 0 < partial < 24  # killed mid-run, with some points written
            r = ingest(images, captions, store, tiny_encoder)
            assert r.added == 24 - partial and r.unchanged == partial and not r.failed
            assert_same_collection(snapshot(store), expected)


@pytest.mark.slow
def test_kill_9_of_the_ingest_command_mid_run_then_rerun_equals_a_clean_run(
    clean_run, tmp_path, tiny_clip_dir
):
    images, captions, expected = clean_run
    env = child_env()
    data = tmp_path / "killed-cli"
    args = [
        "ingest",
        str(images),
        "--captions",
        str(captions),
        "--clip-model",
        str(tiny_clip_dir),
        "--data-dir",
        str(data),
        "--batch-size",
        "2",
        "--workers",
        "1",
    ]
    written = 0
    for at_least in (2, 4, 2):
        shown = kill_when_written(CLI_DRIVER, ["0.3", *args], env, 24 - written, at_least)
        with EdgeStore(data) as store:
            now = store.count()
        # the kill landed mid-run: after the points the bar showed, before the last one
        assert written + shown <= now < 24, (written, shown, now)
        written = now
    done = subprocess.run(
        [sys.executable, "-c", CLI_DRIVER, "0", *args, "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"added {24 - written}, updated 0, unchanged {written}," in done.stdout
    with EdgeStore(data) as store:
        assert_same_collection(snapshot(store), expected)


# The real ``tuwen ingest`` in a child process, each upsert delayed by argv[1] seconds so that a
# kill sent once the progress bar moves lands while the run is still writing.
CLI_DRIVER = textwrap.dedent(
    """
    import sys, time
    from ingest.store import EdgeStore
    from service.cli import main

    delay = float(sys.argv[1])
    upsert = EdgeStore.upsert

    def slow_upsert(self, points):
        time.sleep(delay)
        upsert(self, points)

    EdgeStore.upsert = slow_upsert
    sys.exit(main(sys.argv[2:]))
    """
)
BAR = re.compile(rb"\| *(\d+)/(\d+) \[")


def kill_when_written(driver, args, env, total, at_least, timeout=120.0):
    """Run ``driver``, kill -9 it once its progress bar shows ``at_least`` of ``total`` photos
    written, and return the count the bar showed; fail if the run ended before the kill."""
    p = subprocess.Popen(
        [sys.executable, "-c", driver, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watchdog = threading.Timer(timeout, p.kill)
    watchdog.start()
    shown, tail, log = 0, b"", b""
    try:
        while shown < at_least:
            chunk = p.stderr.read1(4096)
            if not chunk:
                break
            log += chunk
            tail = (tail + chunk)[-400:]
            for m in BAR.finditer(tail):
                assert int(m.group(2)) == total, log.decode(errors="replace")[-2000:]
                shown = max(shown, int(m.group(1)))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        watchdog.cancel()
        p.stderr.close()
    assert shown >= at_least, log.decode(errors="replace")[-2000:]
    assert p.returncode == -signal.SIGKILL, log.decode(errors="replace")[-2000:]
    assert shown < total, f"the bar showed all {total} photos written before the kill"
    return shown


def test_points_carry_the_look_of_the_model_pixels_and_keep_it_on_caption_change(
    cat, tmp_path, tiny_encoder
):
    from ingest.images import load_image
    from ingest.look import LOOK, look_vector

    images, captions = cat
    with EdgeStore(tmp_path / "data") as store:
        ingest(images, captions, store, tiny_encoder)
        got = store.get_file("1001.jpg", [LOOK])
        pixels = tiny_encoder.preprocess.to_array(load_image(images / "1001.jpg"))
        assert np.allclose(got.vectors[LOOK], look_vector(pixels), atol=1e-6)
        captions.write_text(
            captions.read_text(encoding="utf-8").replace("1号", "一号"), encoding="utf-8"
        )
        r = ingest(images, captions, store, tiny_encoder)
        assert r.updated == 1 and r.embedded == 0
        after = store.get_file("1001.jpg", [LOOK])
        assert np.allclose(after.vectors[LOOK], got.vectors[LOOK], atol=1e-6)
