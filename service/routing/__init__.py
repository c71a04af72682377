"""Question routing: which kind of question this is, and what it asks about.

:func:`route` decides by rules (:mod:`service.routing.rules`, phrasings in
:mod:`service.routing.vocabulary`); :class:`EmbeddingRouter` decides by the nearest
centroid of example phrasings and defers to the rules when unsure;
:func:`question_report` summarises a question set (:mod:`service.routing.analytics`).
"""

from service.routing.analytics import (
    choose_k,
    format_question_report,
    kmeans,
    question_report,
    tfidf,
)
from service.routing.embedding import DEFAULT_EXAMPLES, EmbeddingRouter, SentenceEncoder
from service.routing.rules import (
    Kind,
    Route,
    clean_product_text,
    extract_product_text,
    names_a_product,
    route,
    search_product_text,
)

__all__ = [
    "DEFAULT_EXAMPLES",
    "EmbeddingRouter",
    "Kind",
    "Route",
    "SentenceEncoder",
    "choose_k",
    "clean_product_text",
    "extract_product_text",
    "format_question_report",
    "kmeans",
    "names_a_product",
    "question_report",
    "route",
    "search_product_text",
    "tfidf",
]
