"""The VQA stage: candidate answers with probabilities for the attribute fields a question
about a photo asks (every field for a describe question).

Three sources are fused per field (:mod:`ingest.vqa.sources`): the answer heads trained with
the CLIP model (when its directory has them), CLIP zero-shot (the photo's vector against text
vectors of the field's candidate answers) and the score-weighted vote of the photo's nearest
captioned products, with the fusion weights chosen on the training hold-out
(:mod:`ingest.vqa.train`), or :data:`~ingest.vqa.sources.DEFAULT_WEIGHTS` without heads.
A field the photo's own real caption states is answered by it. A field no caption of the
catalog states is marked *unmentioned*: the answer is "the catalog does not say".

The candidates go into the LLM prompt, the extractive answer is built from them, and the
answer's ``meta["vqa"]`` lists them (:meth:`Vqa.meta`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.attributes import Lexicon, caption_attributes
from ingest.hits import Hit
from ingest.vqa.features import PhotoFeatures, colour_features
from ingest.vqa.heads import BASE, COLOUR, AnswerHeads
from ingest.vqa.sources import (
    DEFAULT_WEIGHTS,
    HEADS,
    SOURCES,
    VOTE,
    ZERO_SHOT,
    fuse,
    neighbour_vote,
    zero_shot,
)
from ingest.vqa.vocabulary import VQA_FIELDS, AnswerVocabulary, answer_attributes
from service.routing import Route

if TYPE_CHECKING:
    from service.answering.retrieve import QueryImage

log = logging.getLogger(__name__)

#: Candidates per field shown in prompts and meta.
SHOWN = 3
#: Candidates below this probability are not shown.
FLOOR = 0.05

CAPTION, FUSED, NONE, UNMENTIONED = "caption", "fused", "none", "unmentioned"


def fields_asked(route: Route) -> tuple[str, ...]:
    """The fields a question asks: its attribute, or all of them (describe, open questions)."""
    if route.kind == "describe" or (route.kind == "attribute" and route.attribute is None):
        return VQA_FIELDS
    if route.kind == "attribute" and route.attribute in VQA_FIELDS:
        return (route.attribute,)
    return ()


@dataclass
class FieldAnswer:
    """The candidates of one field.

    Attributes:
        origin: ``caption`` (the photo's own caption states it), ``fused`` (the sources'
            fusion), ``none`` (no source has a candidate) or ``unmentioned`` (no caption of
            the catalog states this field).
        candidates: ``(value, probability)``, best first (all of them).
        sources: Each source's own best candidates.
        weights: The fusion weights used.
        voters: Value → the neighbours' files whose captions state it, best first.
        heads: The heads' feature set used for this field (``base``, ``colour``), if any.
    """

    origin: str
    candidates: list[tuple[str, float]] = field(default_factory=list)
    sources: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    voters: dict[str, list[str]] = field(default_factory=dict)
    heads: str | None = None

    @property
    def top(self) -> str | None:
        """The best candidate, or ``None``."""
        return self.candidates[0][0] if self.candidates else None

    def shown(self) -> list[tuple[str, float]]:
        """The candidates worth showing: the best few, above :data:`FLOOR` (the best always)."""
        return [(v, p) for i, (v, p) in enumerate(self.candidates[:SHOWN]) if i == 0 or p >= FLOOR]


@dataclass
class Vqa:
    """The VQA stage's output for one question.

    Attributes:
        fields: Field → its candidates, for every field the question asks.
        heads: The heads' feature set used: ``colour`` when some field read the colour
            histogram, else ``base``; ``None`` when no head answered.
    """

    fields: dict[str, FieldAnswer] = field(default_factory=dict)
    heads: str | None = None

    def top(self, name: str) -> str | None:
        """The best candidate of a field, or ``None``."""
        answer = self.fields.get(name)
        return answer.top if answer else None

    def files(self, name: str) -> list[str]:
        """The neighbours whose captions state the field's best candidate."""
        answer = self.fields.get(name)
        return answer.voters.get(answer.top or "", []) if answer else []

    def prompt_candidates(self) -> dict[str, list[tuple[str, float]] | None]:
        """Field → the candidates to show (``None``: the catalog does not say); fields with
        neither are left out."""
        out: dict[str, list[tuple[str, float]] | None] = {}
        for name, answer in self.fields.items():
            if answer.origin == UNMENTIONED:
                out[name] = None
            elif answer.candidates:
                out[name] = answer.shown()
        return out

    def meta(self) -> dict[str, Any]:
        """The JSON form listed in the answer's ``meta["vqa"]``."""
        return {
            "heads": self.heads,
            "fields": {
                name: {
                    "origin": a.origin,
                    "candidates": [[v, round(p, 4)] for v, p in a.shown()],
                    "sources": {s: [[v, round(p, 4)] for v, p in c] for s, c in a.sources.items()},
                    "weights": a.weights,
                    "heads": a.heads,
                }
                for name, a in self.fields.items()
            },
        }


class VqaStage:
    """Candidate answers for questions about photos (see the module docstring).

    Args:
        heads: The CLIP model's answer heads, or ``None``.
        encode_texts: The CLIP text encoder, for zero-shot vectors when there are no heads
            (``None``: no zero-shot without heads).
        catalog: The parsed attributes of the catalog's real captions, read once when first
            needed, for the vocabulary when there are no heads (``None``: none; then the
            vote speaks alone and no field is known to be unmentioned).
        lexicon: The catalog's lexicon (neighbours' captions are parsed with it).
        temperature: Zero-shot logit scale without heads (the CLIP model's own).
        photo_path: Where a catalog file's photo is on disk, for the colour histogram.
        preprocess: The CLIP model's preprocessing (the histogram is of the same pixels).
        sources: The sources fused (``heads``, ``zeroshot``, ``vote``; ``TUWEN_VQA_SOURCES``);
            the weights of the others are shared out among these.
    """

    def __init__(
        self,
        heads: AnswerHeads | None = None,
        *,
        encode_texts: Callable[[list[str]], np.ndarray] | None = None,
        catalog: Callable[[], Iterable[Mapping[str, str | None]]] | None = None,
        lexicon: Lexicon | None = None,
        temperature: float = 100.0,
        photo_path: Callable[[str], Path | None] | None = None,
        preprocess: Any = None,
        sources: Sequence[str] = SOURCES,
    ) -> None:
        self.heads = heads
        self.encode_texts = encode_texts
        self.catalog = catalog
        self.lexicon = lexicon if lexicon is not None or heads is None else heads.lexicon
        self.temperature = temperature
        self.photo_path = photo_path
        self.preprocess = preprocess
        unknown = set(sources) - set(SOURCES)
        if unknown or not sources:
            raise ValueError(
                f"TUWEN_VQA_SOURCES: unknown source(s) {sorted(unknown)}; use a comma list of "
                + ", ".join(SOURCES)
            )
        self.sources = tuple(sources)
        self._vocabulary: AnswerVocabulary | None = heads.vocabulary if heads else None
        self._text: dict[str, np.ndarray] = dict(heads.text_vectors) if heads else {}
        self._lock = threading.Lock()

    @property
    def vocabulary(self) -> AnswerVocabulary | None:
        """The candidate answers: the heads', else mined from the catalog once."""
        with self._lock:
            if self._vocabulary is None and self.catalog is not None:
                self._vocabulary = AnswerVocabulary.mine(self.catalog(), lexicon=self.lexicon)
            return self._vocabulary

    def _text_vectors(self, name: str, values: Sequence[str]) -> np.ndarray | None:
        with self._lock:
            if name not in self._text and self.encode_texts is not None and values:
                self._text[name] = np.asarray(self.encode_texts(list(values)), np.float32)
            return self._text.get(name)

    def answer(
        self,
        route: Route,
        query: QueryImage | None,
        hits: Sequence[Hit],
        own_caption: str | None = None,
        *,
        photo_path: Callable[[str], Path | None] | None = None,
    ) -> Vqa:
        """The candidates for a routed question.

        Args:
            route: The routed question (other kinds than describe/attribute ask no field).
            query: The questioned photo (:class:`~service.answering.retrieve.QueryImage`),
                or ``None`` for a question without one (the vote speaks alone).
            hits: Its retrieved captioned neighbours, best first.
            own_caption: The photo's own real caption, when it has one.
            photo_path: Where a catalog file's photo is on disk (over the stage's own), for
                the colour histogram.

        Returns:
            The :class:`Vqa`.
        """
        asked = fields_asked(route)
        out = Vqa()
        if not asked:
            return out
        vocab = self.vocabulary
        own = answer_attributes(caption_attributes(own_caption, self.lexicon), self.lexicon)
        voters = [(h, self.attributes(h)) for h in hits if h.caption and not h.generated]
        votes = neighbour_vote([(a, h.score) for h, a in voters], asked)
        heads = self._heads(query, asked, photo_path) if query is not None else {}
        if heads:
            out.heads = COLOUR if any(v == COLOUR for v, _ in heads.values()) else BASE
        for name in asked:
            files: dict[str, list[str]] = {}
            for h, a in voters:
                if a.get(name):
                    files.setdefault(a[name], []).append(h.file)
            if name in own:
                out.fields[name] = FieldAnswer(CAPTION, [(own[name], 1.0)], voters=files)
                continue
            if vocab is not None and not vocab.mentioned(name):
                out.fields[name] = FieldAnswer(UNMENTIONED, voters=files)
                continue
            values = vocab.of(name) if vocab is not None else ()
            allowed = set(values)
            dists: dict[str, dict[str, float] | None] = {
                VOTE: {v: p for v, p in votes.get(name, {}).items() if not allowed or v in allowed}
            }
            variant = None
            if name in heads:
                variant, probs = heads[name]
                dists[HEADS] = dict(zip(values, map(float, probs), strict=True))
            if query is not None and len(values) > 1:
                text = self._text_vectors(name, values)
                if text is not None:
                    t = self.heads.temperature.get(name, self.temperature) if self.heads else None
                    p = zero_shot(query.vector, text, t or self.temperature)
                    dists[ZERO_SHOT] = dict(zip(values, map(float, p), strict=True))
            chosen = self.heads.weights(name, variant or BASE) if self.heads else None
            weights = chosen or DEFAULT_WEIGHTS
            dists = {s: d for s, d in dists.items() if s in self.sources and d}
            if dists and sum(weights.get(s, 0.0) for s in dists) <= 0:
                weights = dict.fromkeys(dists, 1.0)  # the sources left all weighed 0: alike
            fused = fuse(dists, weights)
            out.fields[name] = FieldAnswer(
                FUSED if fused else NONE,
                list(fused.items()),
                sources={s: _best(d) for s, d in dists.items() if d},
                weights=dict(weights),
                voters=files,
                heads=variant if HEADS in dists else None,
            )
        return out

    def attributes(self, hit: Hit) -> dict[str, str]:
        """A neighbour's recognised attributes: stored ones, else parsed from its caption."""
        stored = hit.attributes
        attrs = dict(stored) if stored else caption_attributes(hit.caption, self.lexicon)
        return answer_attributes(attrs, self.lexicon)

    def _heads(
        self,
        query: QueryImage,
        asked: Sequence[str],
        photo_path: Callable[[str], Path | None] | None,
    ) -> dict[str, tuple[str, np.ndarray]]:
        """Field → (feature set, the heads' probabilities) for the questioned photo."""
        if self.heads is None or not any(n in self.heads.fields for n in asked):
            return {}
        vector = np.asarray(query.vector, dtype=np.float32)[None]
        look = None if query.look is None else np.asarray(query.look, dtype=np.float32)[None]
        pixels = self._pixels(query, photo_path) if self.heads.heads.get(COLOUR) else None
        colour = colour_features(pixels) if pixels is not None else None
        probs = self.heads.probabilities(PhotoFeatures(vector, look, colour, pixels))
        return {n: (v, p[0]) for n, (v, p) in probs.items() if n in asked}

    def _pixels(
        self, query: QueryImage, photo_path: Callable[[str], Path | None] | None
    ) -> np.ndarray | None:
        """The questioned photo's ``(1, H, W, 3)`` pixels as the CLIP model sees them (for
        the colour histogram and the pixel network), when they can be had."""
        locate = photo_path or self.photo_path
        if self.preprocess is None:
            return None
        photo = query.photo
        if photo is None:
            from ingest.images import ImageError, load_image

            paths = [locate(query.file) if locate and query.file else None]
            paths.append(query.path)
            for path in paths:
                if path is not None and Path(path).is_file():
                    try:
                        photo = load_image(Path(path).read_bytes())
                        break
                    except (OSError, ImageError) as e:
                        log.debug("no colour histogram for %s: %s", path, e)
        if photo is None:
            return None
        return self.preprocess.to_array(photo)[None]


def _best(dist: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(dist.items(), key=lambda vp: -vp[1])[:SHOWN]
