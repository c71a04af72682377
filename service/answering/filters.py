"""Attribute filters as shoppers write them, read into the store's canonical values.

``{"gender": ["男"], "color": ["红"]}`` becomes ``(("color", ("红色",)), ("gender", ("男士",)))``:
each value is read with the attribute parser and the collection's lexicon, the way the stored
``attributes`` were, so a filter matches whatever surface form a caption used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ingest.attributes.lexicon import Lexicon
from ingest.attributes.stored import caption_attributes
from ingest.store.facets import FILTER_FIELDS, Filters, as_filters

#: The fields ``/v1/search``, ``/v1/facets`` and ``tuwen search`` filter by.
SEARCH_FILTER_FIELDS: tuple[str, ...] = ("color", "gender", "category", "brand", "usage")


def canonical_value(field: str, value: str, lexicon: Lexicon | None) -> str:
    """The canonical stored value of ``value`` for ``field`` (``男`` → ``男士``, ``红`` → ``红色``);
    a value the parser does not read as that field is kept as written (stripped)."""
    value = value.strip()
    tries = [value, value + "色"] if field == "color" else [value]
    for text in tries:
        found = caption_attributes(text, lexicon).get(field)
        if found:
            return found
    return value


def canonical_filters(
    filters: Mapping[str, Sequence[str]] | None, lexicon: Lexicon | None
) -> Filters:
    """A filter with every value canonicalised (see :func:`canonical_value`).

    Raises:
        ValueError: A field is not an attribute field (the message names it).
    """
    if not filters:
        return ()
    for field in filters:
        if field not in FILTER_FIELDS:
            as_filters({field: ["x"]})  # raises, naming the field
    return as_filters(
        {f: [canonical_value(f, v, lexicon) for v in vs if v.strip()] for f, vs in filters.items()}
    )
