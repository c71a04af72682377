"""Photo plus words ("this, but in red"): a search by a photo and words together.

The photo says what the product is (its CLIP image vector, its look vector and, for a catalog
photo, its stored attributes); the words say what should differ. Four rankings are fused with
RRF in one store query:

- the **composed vector**: the unit image vector plus the unit text vector, normalised,
  against the ``image`` vectors;
- the photo's **look** vector (the outline: the same model in another colour keeps it);
- the text vector against the ``caption`` vectors;
- the **agreement leg** (:mod:`service.answering.agreement`) over the photo's own attributes
  with the ones the words state put in their place: a photo of a black Levis shirt plus 红色
  ranks red Levis shirts first. Only what the words state changes; the photo's brand and
  category stay.

The photo itself is never returned (the shopper has it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ingest.hits import Hit
from ingest.keywords import sparse_vector
from ingest.store import CAPTION, IMAGE, KEYWORDS, LOOK, Leg
from ingest.store.facets import Filters
from service.answering.agreement import ProductText, agreement_leg, read_product_text
from service.answering.fusion import Fused, fuse
from service.answering.retrieve import QueryImage, Retriever

#: The fields the words replace in the photo's attributes, when they state them (the words
#: may state the others too; those replace the photo's as well).
REPLACED: tuple[str, ...] = ("color", "gender", "usage")


def composed_attributes(photo: Mapping[str, str], words: Mapping[str, str]) -> dict[str, str]:
    """The photo's attributes with the ones the words state put in their place."""
    return {**photo, **words}


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 (a zero vector stays zero)."""
    v = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def search_composed(
    retriever: Retriever,
    image: QueryImage,
    text: str,
    k: int = 10,
    *,
    filters: Filters = (),
    slack: int = 1,
) -> list[Hit]:
    """Products like the photo, changed as the words say, best first.

    Args:
        retriever: The catalog's retriever (its store, encoder and lexicon).
        image: The photo (:meth:`Retriever.resolve_image`).
        text: The change, e.g. ``"红色"`` or ``"女款 红色"``.
        k: Products returned.
        filters: Attribute filter (:func:`ingest.store.facets.as_filters`).
        slack: The agreement leg's candidates may disagree on this many attributes.

    Returns:
        The ranking, without the photo itself.
    """
    text_vec = unit(retriever.encoder.encode_texts([text])[0])
    composed = unit(unit(image.vector) + text_vec)
    words = read_product_text(text, retriever.lexicon)
    photo_attributes: dict[str, str] = {}
    if image.id:
        stored = retriever.store.get([image.id])
        found = stored[0].payload.get("attributes") if stored else None
        photo_attributes = dict(found) if isinstance(found, dict) else {}
    wanted = composed_attributes(photo_attributes, words.attributes)
    n = max(retriever.prefetch, k)
    legs = [Leg(composed, IMAGE, n), Leg(text_vec, CAPTION, n)]
    if retriever.look and image.look is not None:
        legs.append(Leg(image.look, LOOK, n))
    sparse = sparse_vector(words.keywords) if words.attributes else None
    if sparse:
        legs.append(Leg(sparse, KEYWORDS, n))
    agree = agreement_leg(ProductText(text, wanted, words.keywords), composed, n, slack=slack)
    if agree is not None:
        legs.append(agree)
    request = Fused(
        tuple(legs),
        limit=k,
        k=retriever.rrf_k,
        exclude_ids=(image.id,) if image.id else (),
        filters=filters,
    )
    return fuse(retriever.store, [request])[0]
