"""Product attributes from captions, shop titles and questions.

:func:`parse_caption` turns a product text into brand, gender, colour, usage, category,
material and style; a :class:`Lexicon` learned from a catalog's captions adds its brands
and product words. ``words`` holds the general vocabularies, ``tokens`` the tokeniser.
"""

from service.attributes.lexicon import Lexicon
from service.attributes.parse import Attributes, field_coverage, find_terms, parse_caption
from service.attributes.words import (
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
    "ATTRIBUTES",
    "ATTRIBUTE_LABELS",
    "FIELDS",
    "FOOTWEAR_SUFFIXES",
    "MATERIAL_WORDS",
    "STYLE_WORDS",
    "Attributes",
    "Lexicon",
    "canonical_usage",
    "field_coverage",
    "find_terms",
    "parse_caption",
]
