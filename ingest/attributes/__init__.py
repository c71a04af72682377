"""Product attributes from captions, shop titles and questions.

:func:`parse_caption` turns a product text into brand, gender, colour, usage, category,
material and style; a :class:`Lexicon` learned from a catalog's captions adds its brands
and product words. ``words`` holds the general vocabularies, ``tokens`` the tokeniser,
``stored`` what a point's payload keeps (:func:`caption_attributes`, :func:`attributes_key`).
"""

from ingest.attributes.lexicon import Lexicon
from ingest.attributes.parse import Attributes, field_coverage, find_terms, parse_caption
from ingest.attributes.stored import (
    PAYLOAD_SCHEMA,
    Annotator,
    attributes_key,
    caption_attributes,
    predicted_attributes,
)
from ingest.attributes.words import (
    ALL_FIELDS,
    ATTRIBUTE_LABELS,
    ATTRIBUTES,
    FIELDS,
    FOOTWEAR_SUFFIXES,
    MATERIAL_WORDS,
    STYLE_WORDS,
    canonical_usage,
)

__all__ = [
    "ALL_FIELDS",
    "Annotator",
    "ATTRIBUTES",
    "ATTRIBUTE_LABELS",
    "FIELDS",
    "FOOTWEAR_SUFFIXES",
    "MATERIAL_WORDS",
    "PAYLOAD_SCHEMA",
    "STYLE_WORDS",
    "Attributes",
    "Lexicon",
    "attributes_key",
    "canonical_usage",
    "caption_attributes",
    "field_coverage",
    "find_terms",
    "parse_caption",
    "predicted_attributes",
]
