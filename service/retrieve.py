"""Retrieval: text → products (hybrid, fused with RRF) and image → annotated neighbours."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ingest.encoders import ClipEncoder
from ingest.hits import Hit
from ingest.images import ImageError, load_image
from ingest.keywords import sparse_vector
from ingest.look import LOOK, look_vector
from ingest.store import CAPTION, IMAGE, KEYWORDS, Leg, Search, Store, point_id
from service.batcher import BatcherClosed, TextBatcher


class ImageNotFound(LookupError):
    """The questioned image is neither an indexed catalog file nor a readable photo."""


@dataclass
class QueryImage:
    """The image a question is about.

    Attributes:
        vector: Its CLIP image vector (the stored one for a catalog image).
        file: Its catalog file when it is indexed, else ``None`` (an upload).
        caption: Its own caption when the catalog has one.
        look: Its look vector (:mod:`ingest.look`), when there is one.
    """

    vector: np.ndarray
    file: str | None = None
    caption: str | None = None
    look: np.ndarray | None = None

    @property
    def id(self) -> str | None:
        return point_id(self.file) if self.file else None


@dataclass
class Timings:
    """Milliseconds per stage, accumulated."""

    encode: float = 0.0
    search: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Searches one collection with one CLIP model.

    Args:
        store: An open store holding the catalog.
        encoder: The CLIP model the collection was built with.
        prefetch: Candidates each leg of a hybrid query contributes to the fusion.
        rrf_k: The RRF constant of text searches.
        look_rrf_k: The RRF constant that fuses an image's CLIP and look neighbours: small,
            so that what either vector ranks first counts most (on catalog-dev, type accuracy
            0.70 with 60, 0.77 with 10; colour unchanged).
        batch_texts: Encode the texts of concurrent text searches together (one
            :class:`~service.batcher.TextBatcher` worker; worth it when many threads search at
            once, as in the HTTP service). :meth:`close` stops it.
        batch_max: Most texts per batched encode.
        batch_wait_ms: How long an idle batcher waits for more requests. 0 by default: batches
            still form from the requests that queue while the model is busy, and a lone
            request is not delayed (measured with ``bench/serve.py --batch-wait-ms``: one
            client p50 24.7 ms with 0 vs 27.3 ms with 2; 16 clients 81.6 vs 75.5 req/s).
        look: Fuse the look vector with the CLIP image vector when searching an image's
            neighbours (when the collection has it).
    """

    def __init__(
        self,
        store: Store,
        encoder: ClipEncoder,
        *,
        prefetch: int = 50,
        rrf_k: int = 60,
        batch_texts: bool = False,
        batch_max: int = 16,
        batch_wait_ms: float = 0.0,
        look: bool = True,
        look_rrf_k: int = 10,
    ) -> None:
        store.require()  # the collection exists...
        store.ensure(encoder.fingerprint)  # ...and was built with this model
        self.store = store
        self.encoder = encoder
        self.prefetch = prefetch
        self.rrf_k = rrf_k
        self.look = look and store.has_look
        self.look_rrf_k = look_rrf_k
        self.batcher: TextBatcher | None = None
        if batch_texts:
            self.batcher = TextBatcher(
                lambda texts: encoder.encode_texts(texts),
                max_batch=batch_max,
                max_wait_ms=batch_wait_ms,
            )

    def close(self) -> None:
        """Stop the text batcher, if any (queued searches are still served)."""
        if self.batcher is not None:
            self.batcher.close()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.batcher is not None:
            try:
                return self.batcher.encode(texts)
            except BatcherClosed:  # shutting down: serve this one directly
                pass
        return self.encoder.encode_texts(texts)

    # ------------------------------------------------------------------ text → products
    def text_search(
        self,
        text: str,
        k: int = 10,
        *,
        captioned_only: bool = False,
        timings: Timings | None = None,
    ) -> list[Hit]:
        """Hybrid search: the CLIP text vector against ``image`` and ``caption`` plus the
        jieba keywords against ``keywords``, fused with RRF in one Qdrant query."""
        return self.text_search_batch([text], k, captioned_only=captioned_only, timings=timings)[0]

    def text_search_batch(
        self,
        texts: Sequence[str],
        k: int = 10,
        *,
        captioned_only: bool = False,
        timings: Timings | None = None,
    ) -> list[list[Hit]]:
        """:meth:`text_search` for several texts: one encoder call (shared with concurrent
        searches when batching is on), one batched query."""
        if not texts:
            return []
        t0 = time.perf_counter()
        vecs = self._encode_texts(list(texts))
        t1 = time.perf_counter()
        searches = [
            self._hybrid(text, vec, k, captioned_only)
            for text, vec in zip(texts, vecs, strict=True)
        ]
        results = self.store.search_batch(searches)
        if timings is not None:
            timings.encode += (t1 - t0) * 1000
            timings.search += (time.perf_counter() - t1) * 1000
        return results

    def _hybrid(self, text: str, vec: np.ndarray, k: int, captioned_only: bool) -> Search:
        n = max(self.prefetch, k)
        legs = [Leg(vec, IMAGE, n), Leg(vec, CAPTION, n)]
        sparse = sparse_vector(text)
        if sparse:
            legs.append(Leg(sparse, KEYWORDS, n))
        return Search(tuple(legs), limit=k, captioned_only=captioned_only, rrf_k=self.rrf_k)

    # ------------------------------------------------------------------ image → products
    def resolve_image(
        self, image: str | Path | bytes | Image.Image, timings: Timings | None = None
    ) -> QueryImage:
        """The questioned image: a catalog file name reuses its stored vector (never
        re-encoded); a path outside the catalog, bytes or a Pillow image is encoded.

        Raises:
            ImageNotFound: ``image`` names no indexed file and no readable photo.
        """
        t0 = time.perf_counter()
        if isinstance(image, (str, Path)) and not isinstance(image, bytes):
            name = str(image).replace("\\", "/").removeprefix("./")
            wanted = [IMAGE, LOOK] if self.look else [IMAGE]
            stored = self.store.get_file(name, wanted)
            if stored is None and "/" in name:
                stored = self.store.get_file(name.rsplit("/", 1)[-1], wanted)
            if stored is not None and IMAGE in stored.vectors:
                if timings is not None:
                    timings.search += (time.perf_counter() - t0) * 1000
                look = stored.vectors.get(LOOK)
                return QueryImage(
                    np.asarray(stored.vectors[IMAGE], dtype=np.float32),
                    stored.file,
                    stored.caption,
                    np.asarray(look, dtype=np.float32) if look is not None else None,
                )
            path = Path(image)
            if not path.is_file():
                raise ImageNotFound(f"{image}: not an indexed catalog image and no such file")
            image = path.read_bytes()
        try:
            pil = image if isinstance(image, Image.Image) else load_image(image)
        except ImageError as e:
            raise ImageNotFound(f"cannot use the image: {e}") from e
        t1 = time.perf_counter()
        pixels = self.encoder.preprocess.to_array(pil)  # once, for both vectors
        vec = self.encoder.encode_pixels(pixels[None])[0]
        look = look_vector(pixels)
        if timings is not None:
            timings.encode += (time.perf_counter() - t1) * 1000
        return QueryImage(vec, look=look)

    def neighbours(
        self, query: QueryImage, k: int = 8, *, timings: Timings | None = None
    ) -> list[Hit]:
        """The annotated products nearest to an image, best first: by its CLIP image vector,
        fused (RRF) with its look vector when both sides have one. The image itself is
        excluded, unless it has its own caption: then it leads with score 1.0."""
        t0 = time.perf_counter()
        exclude = (query.id,) if query.id else ()
        n = max(k, self.prefetch)
        legs = [Leg(query.vector, IMAGE, n)]
        if self.look and query.look is not None:
            legs.append(Leg(query.look, LOOK, n))
        hits = self.store.search(
            Search(
                tuple(legs),
                limit=k,
                captioned_only=True,
                exclude_ids=exclude,
                rrf_k=self.look_rrf_k,
            )
        )
        if query.caption and query.file:
            hits = [Hit(query.id or "", query.file, query.caption, 1.0)] + hits[: k - 1]
        if timings is not None:
            timings.search += (time.perf_counter() - t0) * 1000
        return hits

    def search_products(
        self, text: str, k: int = 10, *, timings: Timings | None = None
    ) -> list[Hit]:
        """:meth:`text_search` led by the products whose caption is exactly ``text`` (score
        1.0): a product searched by its own title comes first, even where another product
        ranks higher on the fused legs."""
        hybrid = self.text_search(text, k, timings=timings)
        t0 = time.perf_counter()
        exact = self.store.with_caption(text.strip(), limit=k)
        if timings is not None:
            timings.search += (time.perf_counter() - t0) * 1000
        ids = {h.id for h in exact}
        return [*exact, *(h for h in hybrid if h.id not in ids)][:k]

    # ------------------------------------------------------------------ text → the image
    def find_images(
        self, text: str, k: int = 10, *, seeds: int = 3, timings: Timings | None = None
    ) -> list[Hit]:
        """Ranked photos for a product text (a retrieve question).

        1. Products whose caption is exactly ``text``.
        2. Photos without a caption, ranked by fusing (RRF) the photos nearest to the best
           caption matches with the text-to-image hits: a caption match leads on to the
           visually similar photos that have no caption of their own. (A photo whose caption
           differs from ``text`` is most likely another product.)
        3. The rest of the hybrid ranking.
        """
        n = max(k, self.prefetch)
        hybrid = self.text_search(text, n, timings=timings)
        t0 = time.perf_counter()
        exact = self.store.with_caption(text, limit=k)
        anchors = exact[:seeds] or [h for h in hybrid if h.caption][:1]
        lists: list[Sequence[Hit]] = [[h for h in hybrid if not h.caption]]
        if anchors:
            stored = self.store.get([h.id for h in anchors], [IMAGE])
            lists += self.store.search_batch(
                [
                    Search((Leg(p.vectors[IMAGE], IMAGE, n),), limit=n, uncaptioned_only=True)
                    for p in stored
                    if IMAGE in p.vectors
                ]
            )
        ranked, seen = [], set()
        for h in [*exact, *rrf(lists, self.rrf_k), *hybrid]:
            if h.id not in seen:
                seen.add(h.id)
                ranked.append(h)
        if timings is not None:
            timings.search += (time.perf_counter() - t0) * 1000
        return ranked[:k]


def rrf(lists: Sequence[Sequence[Hit]], k: int = 60) -> list[Hit]:
    """Reciprocal-rank fusion of ranked hit lists: score = Σ 1 / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits in lists:
        for rank, h in enumerate(hits, 1):
            scores[h.id] = scores.get(h.id, 0.0) + 1.0 / (k + rank)
            first.setdefault(h.id, h)
    order = sorted(scores, key=lambda i: (-scores[i], first[i].file))
    return [Hit(i, first[i].file, first[i].caption, round(scores[i], 6)) for i in order]
