"""The rules for text the API accepts: questions, captions, search text and product names.

Text is UTF-8 (:mod:`service.http.strict` refuses other bytes with 422); control characters,
lone surrogates and bidirectional overrides are refused wherever they appear. One limit,
:data:`MAX_TEXT_CHARS`, holds for captions and for search text, so a stored caption can
always be searched for by its exact text.

Product names are checked before anything touches the disk, each refusal naming its rule.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

#: The longest question, caption or search text, in characters (after stripping whitespace).
MAX_TEXT_CHARS = 2000
#: The longest product name, in UTF-8 bytes.
MAX_NAME_BYTES = 1024
#: The longest folder or file name inside a product name, in UTF-8 bytes (a file system's).
MAX_SEGMENT_BYTES = 255
#: Invisible characters that reorder the text around them (bidirectional controls).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class BadName(ValueError):
    """A product name that breaks a rule; ``str(err)`` names the rule."""


def bad_character(text: str, allowed: str = "") -> str | None:
    """What is wrong with ``text``'s characters, or ``None``.

    Args:
        text: The text.
        allowed: Control characters allowed anyway (e.g. ``"\\t\\n\\r"`` in a question).

    Returns:
        ``"control character U+000A at position 3"`` and the like for the first control
        character, lone surrogate or bidirectional control.
    """
    for i, ch in enumerate(text):
        if ch in allowed:
            continue
        if ch in BIDI_CONTROLS:
            kind = "bidirectional control"
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            kind = "control character" if unicodedata.category(ch) == "Cc" else "lone surrogate"
        else:
            continue
        return f"{kind} U+{ord(ch):04X} at position {i}"
    return None


def _plain(allowed: str = ""):
    def check(text: str) -> str:
        bad = bad_character(text, allowed)
        if bad is not None:
            raise ValueError(f"{bad} is not allowed")
        return text

    return AfterValidator(check)


def _name(value: str) -> str:
    try:
        return check_name(value)
    except BadName as e:
        raise ValueError(str(e)) from None


#: A question: surrounding whitespace dropped, then 1 to 2000 characters; tabs and line
#: breaks are allowed, other control characters are not.
Question = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS),
    _plain("\t\n\r"),
]
#: A product caption: surrounding whitespace dropped, then at most 2000 characters, one line.
Caption = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT_CHARS), _plain()
]
#: Search text: 1 to 2000 characters, one line (any stored caption fits).
SearchText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS), _plain()
]
#: A catalog file name in a request body: the rules of :func:`check_name`.
ImageName = Annotated[str, StringConstraints(max_length=MAX_NAME_BYTES), AfterValidator(_name)]


def check_name(name: str | None) -> str:
    """A product name as it is stored, or :class:`BadName` naming the rule it breaks.

    A name is a relative ``/``-separated path: not empty, at most :data:`MAX_NAME_BYTES`
    UTF-8 bytes and :data:`MAX_SEGMENT_BYTES` per segment; no control characters, no
    backslashes, no drive letter, no leading ``/``, no empty, ``.``, ``..`` or hidden
    (``.``-prefixed) segments. Names are never rewritten: ``a//b.jpg`` is refused, not
    read as ``a/b.jpg``.

    Args:
        name: The name a client sent.

    Returns:
        ``name`` unchanged.
    """
    if not name:
        raise BadName("a file name is required")
    bad = bad_character(name)
    if bad is not None:
        raise BadName(f"{name!r} has a {bad} (rule: no control characters)")
    if "\\" in name:
        raise BadName(f"{name!r} has a backslash (rule: folders are separated by /)")
    if _DRIVE.match(name):
        raise BadName(f"{name!r} starts with a drive letter (rule: relative names only)")
    if name.startswith("/"):
        raise BadName(f"{name!r} starts with / (rule: relative names only)")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise BadName(f"the name is {size} bytes in UTF-8 (rule: at most {MAX_NAME_BYTES} bytes)")
    for part in name.split("/"):
        if not part:
            raise BadName(f"{name!r} has an empty segment (rule: no // and no trailing /)")
        if part in (".", ".."):
            raise BadName(f"{name!r} has a {part!r} segment (rule: no . or .. segments)")
        if part.startswith("."):
            raise BadName(f"{name!r} has a hidden segment {part!r} (rule: none starts with .)")
        size = len(part.encode("utf-8"))
        if size > MAX_SEGMENT_BYTES:
            raise BadName(
                f"a segment of the name is {size} bytes in UTF-8 "
                f"(rule: at most {MAX_SEGMENT_BYTES} bytes between slashes)"
            )
    return name


def parents(name: str) -> list[str]:
    """The folders a name sits in: ``a/b/c.jpg`` → ``["a", "a/b"]``."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
