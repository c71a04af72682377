"""Citations: the image files an answer names, checked against what retrieval returned."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from ingest.hits import Hit
from ingest.images import IMAGE_EXTENSIONS

_EXT = "|".join(IMAGE_EXTENSIONS)
# [file.jpg] or 【file.jpg】 (any characters but brackets), or a bare ASCII file name.
_BRACKETED = rf"[\[【［]\s*(?P<b>[^\[\]【】［］\s][^\[\]【】［］]*?\.(?:{_EXT}))\s*[\]】］]"
_BARE = rf"(?<![\w./\-])(?P<f>[A-Za-z0-9_][A-Za-z0-9_./\-]*\.(?:{_EXT}))(?![A-Za-z0-9_])"
_CITATION = re.compile(f"{_BRACKETED}|{_BARE}", re.IGNORECASE)
_MARKER = re.compile(_BRACKETED, re.IGNORECASE)


def extract_citations(text: str) -> list[str]:
    """Finds the image file names an answer cites.

    Recognises ``[name.jpg]`` and ``【name.jpg】`` markers and bare ASCII file names such
    as ``12345.jpg`` (extensions: :data:`ingest.images.IMAGE_EXTENSIONS`).

    Args:
        text: Generated answer text.

    Returns:
        The file names in order of first appearance, without duplicates.
    """
    found = [m.group("b") or m.group("f") for m in _CITATION.finditer(text)]
    return list(dict.fromkeys(f.strip() for f in found))


def strip_citations(text: str) -> str:
    """Removes ``[name.jpg]`` markers from an answer (bare file names stay).

    Args:
        text: Generated answer text.

    Returns:
        The text without citation markers, stripped.
    """
    return re.sub(r"[ \t]{2,}", " ", _MARKER.sub("", text)).strip()


def filter_citations(cited: Sequence[str], allowed: Sequence[Hit]) -> list[Hit]:
    """Keeps the cited files that retrieval returned, in cited order.

    A citation matches a hit by its exact relative path or, when that is unambiguous,
    by its base name (``images/1.jpg`` cites hit ``1.jpg``); anything else is dropped.

    Args:
        cited: File names, e.g. from :func:`extract_citations`.
        allowed: The hits retrieval returned (and the prompt showed).

    Returns:
        The matching hits, each at most once.
    """
    by_file = {h.file: h for h in allowed}
    by_name: dict[str, list[Hit]] = {}
    for hit in allowed:
        by_name.setdefault(PurePosixPath(hit.file).name, []).append(hit)
    kept: dict[str, Hit] = {}
    for name in cited:
        hit = by_file.get(name)
        if hit is None:
            matches = by_name.get(PurePosixPath(name.replace("\\", "/")).name, [])
            hit = matches[0] if len(matches) == 1 else None
        if hit is not None:
            kept.setdefault(hit.file, hit)
    return list(kept.values())


_OPENERS = "[【［"
_CLOSERS = "]】］"


class MarkerFilter:
    """Removes ``[file.jpg]`` markers from streamed text, across piece boundaries.

    Text after an opening bracket is held back until its bracket closes (or it grows too long
    to be a marker), so a reader of the stream never sees a marker half-printed.
    """

    def __init__(self, max_marker: int = 200) -> None:
        self._buf = ""
        self._max = max_marker

    def feed(self, piece: str) -> str:
        """Add a piece; return the text that is safe to show now."""
        self._buf += piece
        out = []
        while self._buf:
            i = min((self._buf.find(c) for c in _OPENERS if c in self._buf), default=-1)
            if i < 0:
                out.append(self._buf)
                self._buf = ""
                break
            out.append(self._buf[:i])
            rest = self._buf[i:]
            j = min((rest.find(c) for c in _CLOSERS if c in rest), default=-1)
            if j < 0:
                if len(rest) > self._max:
                    out.append(rest)
                    rest = ""
                self._buf = rest
                break
            token = rest[: j + 1]
            if not _MARKER.fullmatch(token):
                out.append(token)
            self._buf = rest[j + 1 :]
        return "".join(out)

    def flush(self) -> str:
        """The held-back rest at the end of the stream."""
        rest, self._buf = self._buf, ""
        return rest
