"""The answering core: a plain object that the CLI, batch mode, HTTP API and tests all call.

question (+ image) → route → retrieve → answer with cited images. A retrieve question is
answered by retrieval itself. Other questions are answered by a language model over a prompt
of the retrieved captions, or, without a model (and whenever the model is unavailable), by
the extractive strategy: a vote over the retrieved neighbours' captions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from ingest.hits import Hit
from service.answering.citations import (
    MarkerFilter,
    extract_citations,
    filter_citations,
    strip_citations,
)
from service.answering.extractive import extractive_answer
from service.answering.photo import photo_hit, question_photo
from service.answering.prompt import build_prompt
from service.answering.retrieve import QueryImage, Retriever, Timings
from service.answering.vqa import Vqa, VqaStage
from service.generation.base import Generator, GeneratorUnavailable, sees_images
from service.routing import Route, names_a_product, route

#: The backend name of answers composed without a language model.
EXTRACTIVE = "extractive"

#: How many retrieved files an answer that names none cites (what it rests on).
_RESTS_ON = 3

#: A retrieve question's exact caption matches whose uncaptioned look-alikes follow them.
_LOOKALIKE_SEEDS = 3


@dataclass
class Citation:
    """One cited catalog image.

    Attributes:
        caption_source: ``"generated"`` when ``caption`` was written by a captioner for a
            photo without one (show it marked as such), ``"caption"`` for a real caption.
    """

    image: str
    caption: str | None
    score: float
    caption_source: str | None = None


@dataclass
class Answer:
    """One answered question. ``to_dict`` is the JSON shape of every interface."""

    question: str
    kind: str
    answer: str
    citations: list[Citation]
    backend: str
    timings: dict[str, float]
    attribute: str | None = None
    image: str | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The answer as JSON-ready data."""
        d = asdict(self)
        d["citations"] = [asdict(c) for c in self.citations]
        return d


@dataclass
class _Question:
    """A routed question and what retrieval found for it."""

    text: str
    route: Route
    hits: list[Hit]
    own_caption: str | None  # the questioned image's own caption
    own: Hit | None  # the questioned image itself, when it is a captioned catalog file
    image: str | None
    times: Timings
    route_ms: float
    query: QueryImage | None = None  # the questioned image as retrieval resolved it
    vqa: Vqa | None = None  # the VQA stage's candidates (describe and attribute questions)

    def read(self, candidates: list[Hit]) -> list[Hit]:
        """What an answer rests on: the questioned image (a captioned catalog file), then
        the candidates it read, best first."""
        return ([self.own] if self.own else []) + candidates

    def answer(
        self, text: str, cited: list[Hit], backend: str, prompt_ms: float, generate_ms: float
    ) -> Answer:
        t = self.times
        return Answer(
            question=self.text,
            kind=self.route.kind,
            attribute=self.route.attribute,
            answer=text,
            citations=[
                Citation(h.file, h.caption, round(h.score, 6), h.caption_source) for h in cited
            ],
            backend=backend,
            timings={
                "route": round(self.route_ms, 3),
                "encode": round(t.encode, 3),
                "search": round(t.search, 3),
                "prompt": round(prompt_ms, 3),
                "generate": round(generate_ms, 3),
            },
            image=self.image,
        )


class Answerer:
    """Answers questions about one catalog.

    Args:
        retriever: Search over the catalog's collection.
        generator: The language model, or ``None`` to answer extractively (no model).
        k: Neighbours retrieved for describe/attribute questions.
        retrieve_k: Ranked candidates returned for retrieve questions.
        token_budget: Prompt budget; the weakest candidates are dropped to fit.
        count_tokens: Token counter for the budget (default: characters).
        router: Question router (default: the rule router).
        max_new_tokens: Upper bound on a model answer's tokens.
        photo_path: Where the photo of an indexed file is on disk (``None`` when it is not),
            for a generator that sees images (``vision = True``); a photo the question named
            by its path is read from that path when this finds none. The VQA stage reads the
            photo's colours from it too.
        vqa: The VQA stage (:mod:`service.answering.vqa`): candidate answers for describe and
            attribute questions, shown to the model and answered from extractively; default:
            the neighbours' vote alone, parsed with the retriever's lexicon.
    """

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator | None = None,
        *,
        k: int = 8,
        retrieve_k: int = 10,
        token_budget: int = 1500,
        count_tokens: Callable[[str], int] | None = None,
        router: Callable[[str], Route] = route,
        max_new_tokens: int = 256,
        photo_path: Callable[[str], Path | None] | None = None,
        vqa: VqaStage | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.k = k
        self.retrieve_k = retrieve_k
        self.token_budget = token_budget
        self.count_tokens = count_tokens
        self.router = router
        self.max_new_tokens = max_new_tokens
        self.photo_path = photo_path
        self.vqa = vqa if vqa is not None else VqaStage(lexicon=getattr(retriever, "lexicon", None))

    @property
    def backend(self) -> str:
        """The generation backend in words: the model's name, or ``"extractive"``."""
        return self.generator.name if self.generator is not None else EXTRACTIVE

    def ask(
        self, question: str, image: str | Path | bytes | Image.Image | QueryImage | None = None
    ) -> Answer:
        """Answer one question; ``image`` is a catalog file name, a path, bytes, a photo, or
        an already resolved :class:`QueryImage`."""
        result = None
        for item in self.stream(question, image):
            if isinstance(item, Answer):
                result = item
        if result is None:  # pragma: no cover - stream always ends with the answer
            raise RuntimeError("answer stream ended without an answer")
        return result

    def stream(
        self, question: str, image: str | Path | bytes | Image.Image | QueryImage | None = None
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the full :class:`Answer`.

        Raises:
            ValueError: When the question is empty.
            ImageNotFound: When ``image`` names no indexed file and no readable photo.
            GeneratorUnavailable: When the model fails after it has begun to answer.
        """
        question = (question or "").strip()
        if not question:
            raise ValueError("the question is empty")
        q = self._retrieve(question, image)
        if q.route.kind == "retrieve":
            answer = q.hits[0].file if q.hits else ""
            if answer:
                yield answer
            yield q.answer(answer, q.hits, "retrieval", 0.0, 0.0)
            return
        q.vqa = self.vqa.answer(q.route, q.query, q.hits, q.own_caption, photo_path=self.photo_path)
        if self.generator is None:
            yield from self._extractive(q, EXTRACTIVE, 0.0, time.perf_counter(), {})
        else:
            yield from self._generate(q, self.generator)

    def _retrieve(
        self, question: str, image: str | Path | bytes | Image.Image | QueryImage | None
    ) -> _Question:
        times = Timings()
        t0 = time.perf_counter()
        r = self.router(question)
        route_ms = (time.perf_counter() - t0) * 1000
        query: QueryImage | None = None
        if isinstance(image, QueryImage):
            query = image
        elif image is not None and image != "":
            query = self.retriever.resolve_image(image, times)
        own_caption = query.caption if query is not None and r.kind != "retrieve" else None
        own = None
        if own_caption and query is not None and query.file:
            own = Hit(query.id or "", query.file, own_caption, 1.0)
        text = r.product_text or question
        if r.kind == "retrieve" and query is not None and not names_a_product(text):
            # 找出与这张图片最相似的商品: the photo in hand is what to search by
            hits = self.retriever.neighbours(query, self.retrieve_k, timings=times)
        elif r.kind == "retrieve":
            hits = self.retriever.search(
                text, self.retrieve_k, exact_first=True, lookalikes=_LOOKALIKE_SEEDS, timings=times
            )
        elif query is not None:
            hits = self.retriever.neighbours(query, self.k, timings=times)
            if own_caption and hits and hits[0].file == query.file:
                hits = hits[1:]  # the image itself: it speaks through its own caption
        else:
            hits = self.retriever.search(question, self.k, captioned_only=True, timings=times)
        image_file = query.file if query else None
        return _Question(
            question, r, hits, own_caption, own, image_file, times, route_ms, query=query
        )

    def _extractive(
        self, q: _Question, backend: str, prompt_ms: float, t0: float, meta: dict
    ) -> Iterator[str | Answer]:
        """The extractive strategy: each asked field's best VQA candidate."""
        text, files = extractive_answer(q.route, q.hits, q.own_caption, vqa=q.vqa)
        by_file = {h.file: h for h in q.hits}
        cited = [by_file[f] for f in files if f in by_file]
        generate_ms = (time.perf_counter() - t0) * 1000
        if text:
            yield text
        rests_on = cited or q.read(q.hits)[:_RESTS_ON]
        a = q.answer(text, rests_on, backend, prompt_ms, generate_ms)
        a.meta = {"cited_by_model": bool(cited), **meta}
        if q.vqa is not None:
            a.meta["vqa"] = q.vqa.meta()
        yield a

    def _generate(self, q: _Question, generator: Generator) -> Iterator[str | Answer]:
        """A language model's answer over the prompt; its ``[file]`` citations are checked
        against the candidates it was shown (and, for a vision model, the photo itself)."""
        t1 = time.perf_counter()
        vision = sees_images(generator)
        photo = question_photo(q.query, self.photo_path) if vision and q.query else None
        prompt = build_prompt(
            q.text,
            q.route,
            q.hits,
            q.own_caption,
            self.token_budget,
            self.count_tokens,
            photo_attached=photo is not None,
            photo_file=q.image if photo is not None else None,
            vqa=q.vqa.prompt_candidates() if q.vqa is not None else None,
        )
        t2 = time.perf_counter()
        pieces: list[str] = []
        shown = MarkerFilter()
        try:
            if photo is not None:
                stream = generator.stream(prompt.messages, self.max_new_tokens, image=photo)  # type: ignore[call-arg]
            else:
                stream = generator.stream(prompt.messages, self.max_new_tokens)
            for piece in stream:
                pieces.append(piece)
                visible = shown.feed(piece)
                if visible:
                    yield visible
        except GeneratorUnavailable as e:
            if pieces:  # part of an answer is out: it cannot be taken back
                raise
            reason = str(e)
            backend = f"{EXTRACTIVE} (fallback: {reason})"
            yield from self._extractive(q, backend, (t2 - t1) * 1000, t2, {"fallback": reason})
            return
        rest = shown.flush()
        if rest:
            yield rest
        t3 = time.perf_counter()
        raw = "".join(pieces)
        shown_files = q.read(prompt.candidates)  # the only files it may cite...
        seen = photo_hit(q.query, q.own_caption, shown_files) if photo is not None else None
        if seen is not None:
            shown_files.insert(0, seen)  # ...and the photo it looked at
        named = extract_citations(raw)
        cited = filter_citations(named, shown_files)
        dropped = [f for f in named if f not in {h.file for h in cited}]
        a = q.answer(
            strip_citations(raw),
            cited or shown_files[:_RESTS_ON],
            generator.name,
            (t2 - t1) * 1000,
            (t3 - t2) * 1000,
        )
        a.meta = {"cited_by_model": bool(cited)}
        if q.vqa is not None:
            a.meta["vqa"] = q.vqa.meta()
        if vision:
            a.meta["image_shown"] = photo is not None
        if dropped:
            a.meta["dropped_citations"] = dropped
        yield a
