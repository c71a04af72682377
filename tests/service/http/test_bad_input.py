"""The bad-input corpus (``corpus.py``) against the app with an API key set.

Every case gets its expected status, never a 5xx, leaves no file behind in the data dir and
leaves the number of points unchanged (a case that is accepted is deleted again, and must
then leave nothing behind either). The table of case → status is written to
``test-artifacts/bad-input-corpus.md``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import REPO
from tests.service.http.conftest import AUTH
from tests.service.http.corpus import CASES, EXISTING, Case, png

TABLE = REPO / "test-artifacts" / "bad-input-corpus.md"
_seen: dict[str, tuple[int, int]] = {}


def _files(data_dir) -> set[str]:
    """Every file under the uploads folder (temporary ones included)."""
    uploads = data_dir / "uploads"
    return {p.relative_to(uploads).as_posix() for p in uploads.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def corpus_app(keyed):
    client, images, data = keyed
    r = client.post(
        "/v1/products",
        headers=AUTH,
        files=[("images", (EXISTING, png((5, 250, 5)), "image/png"))],
        data={"captions": ["已有的上传 绿色"]},
    )
    assert r.status_code == 200, r.text
    return client, data


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(corpus_app, case: Case):
    client, data = corpus_app
    service = client.app.state.service
    points, files = service.store.count(), _files(data)
    r = case.send(client)
    _seen[case.name] = (case.status, r.status_code)
    assert r.status_code < 500, r.text
    assert r.status_code == case.status, r.text
    assert case.says in r.text, r.text
    if case.absent:  # only the answer itself: the citations quote the caption as data
        answer = r.json()["answer"]
        assert not [t for t in case.absent if t in answer], answer
    for name in case.cleanup:
        assert client.delete(f"/v1/products/{quote(name)}", headers=AUTH).status_code == 200
    assert _files(data) == files  # nothing left behind, nothing lost
    assert service.store.count() == points


def test_a_png_named_gif_is_served_as_png(corpus_app):
    client, _ = corpus_app
    r = client.post("/v1/products", headers=AUTH, files=[("images", ("x.gif", png(), "image/png"))])
    assert r.status_code == 200, r.text
    served = client.get("/images/x.gif")
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert client.delete("/v1/products/x.gif", headers=AUTH).status_code == 200


def test_the_corpus_table(corpus_app):
    """Every case ran; the case → status table goes to test-artifacts/ (and -s shows it)."""
    assert set(_seen) == {c.name for c in CASES}, "run the whole module"
    lines = ["| case | expected | got |", "|---|---|---|"]
    lines += [f"| {name} | {want} | {got} |" for name, (want, got) in _seen.items()]
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n" + "\n".join(lines))
    assert all(want == got for want, got in _seen.values())
