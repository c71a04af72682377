"""The answering core: a plain object that the CLI, batch mode, HTTP API and tests all call.

question (+ image) → route → retrieve → prompt → generate → answer with cited images.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from ingest.hits import Hit
from service.citations import MarkerFilter, extract_citations, filter_citations, strip_citations
from service.extractive import AnswerContext
from service.llm import Generator
from service.prompt import build_prompt
from service.retrieve import QueryImage, Retriever, Timings
from service.router import Route, route


@dataclass
class Citation:
    image: str
    caption: str | None
    score: float


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
        d = asdict(self)
        d["citations"] = [asdict(c) for c in self.citations]
        return d


class Answerer:
    """Answers questions about one catalog.

    Args:
        retriever: Search over the catalog's collection.
        generator: The generation backend (transformers, openai or extractive).
        k: Neighbours retrieved for describe/attribute questions.
        retrieve_k: Ranked candidates returned for retrieve questions.
        token_budget: Prompt budget; the weakest candidates are dropped to fit.
        count_tokens: Token counter for the budget (default: characters).
        router: Question router (default: the rule router).
    """

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        *,
        k: int = 8,
        retrieve_k: int = 10,
        token_budget: int = 1500,
        count_tokens: Callable[[str], int] | None = None,
        router: Callable[[str], Route] = route,
        max_new_tokens: int = 256,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.k = k
        self.retrieve_k = retrieve_k
        self.token_budget = token_budget
        self.count_tokens = count_tokens
        self.router = router
        self.max_new_tokens = max_new_tokens

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
        """Yield answer text as it is generated, then the full :class:`Answer`."""
        question = (question or "").strip()
        if not question:
            raise ValueError("the question is empty")
        times = Timings()
        t0 = time.perf_counter()
        r = self.router(question)
        t_route = (time.perf_counter() - t0) * 1000
        query: QueryImage | None = None
        if isinstance(image, QueryImage):
            query = image
        elif image is not None and image != "":
            query = self.retriever.resolve_image(image, times)
        if r.kind == "retrieve":
            text = r.product_text or question
            hits = self.retriever.find_images(text, self.retrieve_k, timings=times)
            answer = hits[0].file if hits else ""
            if answer:
                yield answer
            yield Answer(
                question=question,
                kind="retrieve",
                answer=answer,
                citations=[Citation(h.file, h.caption, round(h.score, 6)) for h in hits],
                backend="retrieval",
                timings=_timings(t_route, times, 0.0, 0.0),
                image=query.file if query else None,
            )
            return
        if query is not None:
            hits = self.retriever.neighbours(query, self.k, timings=times)
            own = query.caption
            if own and hits and hits[0].file == query.file:
                hits = hits[1:]
        else:
            hits = self.retriever.text_search(question, self.k, captioned_only=True, timings=times)
            own = None
        t1 = time.perf_counter()
        prompt = build_prompt(question, r, hits, own, self.token_budget, self.count_tokens)
        t2 = time.perf_counter()
        allowed = list(prompt.candidates)
        if own and query is not None and query.file:
            allowed.insert(0, Hit(query.id or "", query.file, own, 1.0))
        context = AnswerContext(r, tuple(prompt.candidates), own)
        pieces = []
        shown = MarkerFilter()
        for piece in self.generator.stream(prompt.messages, self.max_new_tokens, context=context):
            pieces.append(piece)
            visible = shown.feed(piece)
            if visible:
                yield visible
        rest = shown.flush()
        if rest:
            yield rest
        t3 = time.perf_counter()
        raw = "".join(pieces)
        cited = filter_citations(extract_citations(raw), allowed)
        text = strip_citations(raw)
        dropped = [f for f in extract_citations(raw) if f not in {h.file for h in cited}]
        meta = {"cited_by_model": bool(cited)}
        if dropped:
            meta["dropped_citations"] = dropped
        if not cited:  # the model named no valid file: the answer rests on what it was shown
            cited = allowed[:3]
        yield Answer(
            question=question,
            kind=r.kind,
            attribute=r.attribute,
            answer=text,
            citations=[Citation(h.file, h.caption, round(h.score, 6)) for h in cited],
            backend=self.generator.name,
            timings=_timings(t_route, times, (t2 - t1) * 1000, (t3 - t2) * 1000),
            image=query.file if query else None,
            meta=meta,
        )


def _timings(route_ms: float, t: Timings, prompt_ms: float, generate_ms: float) -> dict[str, float]:
    return {
        "route": round(route_ms, 3),
        "encode": round(t.encode, 3),
        "search": round(t.search, 3),
        "prompt": round(prompt_ms, 3),
        "generate": round(generate_ms, 3),
    }
