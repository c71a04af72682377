"""The attributes a point stores: parsed from its caption, or predicted for its photo.

A point's payload holds ``attributes`` (field → canonical value, only the fields found) and
``attribute_source`` (``"caption"``: parsed from a real caption; ``"predicted"``: proposed by
a captioner for a photo without one). ``attributes_key`` records the payload schema and the
lexicon the attributes were parsed with, so a run with another lexicon or an older
collection rewrites payloads only (:func:`attributes_key`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ingest.attributes.lexicon import Lexicon
from ingest.attributes.parse import parse_caption
from ingest.attributes.words import ALL_FIELDS

#: The version of the payload layout; a collection written with another one is upgraded by
#: the next run (payloads rewritten, nothing re-embedded).
PAYLOAD_SCHEMA = 2

CAPTION, PREDICTED, GENERATED = "caption", "predicted", "generated"


def attributes_key(lexicon: Lexicon | None) -> str:
    """The payload schema and the lexicon, as stored with every point's attributes.

    Args:
        lexicon: The lexicon the attributes are parsed with (``None``: the general one).

    Returns:
        E.g. ``"2:5d41402abc4b2a76"``.
    """
    if lexicon is None:
        return f"{PAYLOAD_SCHEMA}:general"
    blob = json.dumps(lexicon.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
    return f"{PAYLOAD_SCHEMA}:{hashlib.sha256(blob).hexdigest()[:16]}"


def caption_attributes(caption: str | None, lexicon: Lexicon | None) -> dict[str, str]:
    """The fields a caption states, canonical values only.

    Args:
        caption: A caption or title (``None`` or empty: no attributes).
        lexicon: The catalog's lexicon.

    Returns:
        ``{field: value}`` for the fields found, e.g. ``{"gender": "男士", "color": "黑色"}``.
    """
    if not caption or not caption.strip():
        return {}
    parsed = parse_caption(caption, lexicon).as_dict()
    return {f: v for f, v in parsed.items() if v}


def predicted_attributes(
    predicted: Mapping[str, str], caption: str | None, lexicon: Lexicon | None
) -> dict[str, str]:
    """A captioner's predictions in canonical form, completed from its generated caption.

    Each predicted value is read by the parser (``黑`` → ``黑色``, ``男`` → ``男士``) and kept
    as given where the parser does not know it; fields outside
    :data:`~ingest.attributes.words.ALL_FIELDS` and empty values are dropped. Fields the
    captioner did not predict are taken from its caption.

    Args:
        predicted: Field → value, as the captioner gave them.
        caption: The generated caption, if any.
        lexicon: The catalog's lexicon.

    Returns:
        ``{field: canonical value}``.
    """
    out = caption_attributes(caption, lexicon)
    for name, value in predicted.items():
        if name not in ALL_FIELDS or not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        # A colour stem (黑, 藏青) reads as its colour word (黑色, 藏青色).
        tries = (value, value + "色") if name == "color" else (value,)
        found = (parse_caption(t, lexicon).as_dict().get(name) for t in tries)
        out[name] = next((c for c in found if c), value)
    return out


@dataclass(frozen=True)
class Annotator:
    """The attribute fields of points, parsed with one catalog's lexicon.

    Args:
        lexicon: The catalog's lexicon (``None``: the general vocabulary only).
    """

    lexicon: Lexicon | None = None

    @cached_property
    def key(self) -> str:
        """:func:`attributes_key` of the lexicon."""
        return attributes_key(self.lexicon)

    def of_caption(self, caption: str | None) -> dict[str, Any]:
        """The payload fields of a point with this real caption (or none).

        Args:
            caption: The photo's real caption, or ``None``.

        Returns:
            ``caption_source``, ``attributes``, ``attribute_source`` and ``attributes_key``,
            as keyword arguments of :class:`~ingest.store.PointData`.
        """
        attributes = caption_attributes(caption, self.lexicon)
        return {
            "caption_source": CAPTION if caption else None,
            "attributes": attributes,
            "attribute_source": CAPTION if attributes else None,
            "attributes_key": self.key,
        }

    def of_generated(
        self,
        caption: str | None,
        predicted: Mapping[str, str],
        captioner: str,
        likely: Mapping[str, Mapping[str, float]] | None = None,
    ) -> dict[str, Any]:
        """The payload fields of a photo without a real caption that a captioner looked at.

        Args:
            caption: The generated caption, or ``None`` when it proposed none.
            predicted: Its predicted attributes, field → value.
            captioner: Its name.
            likely: Its plausible values with their probabilities, per field.

        Returns:
            ``caption_source`` (``generated`` when there is a caption), ``captioner``,
            ``attributes``, ``attribute_source`` (``predicted``), ``attributes_key`` and
            ``likely`` (:func:`likely_values`).
        """
        attributes = predicted_attributes(predicted, caption, self.lexicon)
        return {
            "caption_source": GENERATED if caption else None,
            "captioner": captioner,
            "attributes": attributes,
            "attribute_source": PREDICTED if attributes else None,
            "attributes_key": self.key,
            "likely": likely_values(likely or {}),
        }


def likely_values(likely: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """A captioner's plausible values, cleaned for the payload: fields of
    :data:`~ingest.attributes.words.ALL_FIELDS` only, non-empty values, probabilities in
    (0, 1]; a field left without a value is dropped.

    Args:
        likely: Field → value → probability, as the captioner gave them.

    Returns:
        Field → value → probability.
    """
    out: dict[str, dict[str, float]] = {}
    for name, dist in likely.items():
        if name not in ALL_FIELDS or not isinstance(dist, Mapping):
            continue
        kept = {
            v.strip(): float(p)
            for v, p in dist.items()
            if isinstance(v, str) and v.strip() and isinstance(p, (int, float)) and 0 < p <= 1
        }
        if kept:
            out[name] = kept
    return out


#: The collection metadata key that holds the catalog's lexicon.
LEXICON = "lexicon"


def stored_lexicon(store: Any) -> Lexicon | None:
    """The lexicon kept with the collection by the last catalog run, if any.

    Args:
        store: An open :class:`~ingest.store.Store`.

    Returns:
        The lexicon, or ``None`` (no collection, or one indexed before lexicons were kept).

    Raises:
        StoreError: The stored lexicon cannot be read (the message names the collection).
    """
    from ingest.store import StoreError

    data = store.metadata_value(LEXICON)
    if data is None:
        return None
    try:
        return Lexicon.from_dict(data)
    except (ValueError, AttributeError) as e:
        raise StoreError(
            f"collection {store.collection!r} at {store.location}: cannot read its stored "
            f"lexicon ({e}); run `tuwen ingest` again to rewrite it"
        ) from e
