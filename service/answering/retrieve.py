"""Retrieval: text → products (one hybrid search with options) and image → annotated neighbours."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ingest.attributes.stored import stored_lexicon
from ingest.hits import Hit
from ingest.images import ImageError, load_image
from ingest.keywords import sparse_vector
from ingest.look import look_vector
from ingest.store import CAPTION, IMAGE, KEYWORDS, LOOK, Leg, Store
from ingest.store.facets import Filters, passes
from service.answering.agreement import (
    ProductText,
    agreeing,
    agreement_leg,
    quoting,
    read_product_text,
)
from service.answering.batcher import BatcherClosed, TextBatcher
from service.answering.fusion import Fused, fuse
from service.answering.likelihood import by_likelihood, likelihood_request
from service.answering.queries import ImageNotFound, QueryEncoder, QueryImage, Timings
from service.answering.query_cache import QueryCache

__all__ = ["ImageNotFound", "QueryEncoder", "QueryImage", "Retriever", "Timings"]


class Retriever:
    """Searches one collection with one CLIP model.

    Args:
        store: An open store holding the catalog.
        encoder: The CLIP model the collection was built with (its query role).
        prefetch: Candidates each leg of a fused search contributes.
        rrf_k: The RRF constant of text searches.
        look_rrf_k: The RRF constant that fuses an image's CLIP and look neighbours: small,
            so that what either vector ranks first counts most (on catalog-dev, type accuracy
            0.70 with 60, 0.77 with 10; colour unchanged).
        lookalike_rrf_k: The RRF constant that fuses a text's photo hits with the photos
            nearest to its best caption matches (``lookalikes`` of :meth:`search`).
        batch_texts: Encode the texts of concurrent text searches together (one
            :class:`~service.answering.batcher.TextBatcher` worker; worth it when many threads
            search at once, as in the HTTP service). :meth:`close` stops it.
        batch_max: Most texts per batched encode.
        batch_wait_ms: How long an idle batcher waits for more requests. 0 by default: batches
            still form from the requests that queue while the model is busy, and a lone
            request is not delayed (measured with ``bench/serve.py --batch-wait-ms``: one
            client p50 24.7 ms with 0 vs 27.3 ms with 2; 16 clients 81.6 vs 75.5 req/s).
        look: Fuse the look vector with the CLIP image vector when searching an image's
            neighbours (when the collection has it).
        agreement: Text searches parse the text into attributes with the collection's
            lexicon (:mod:`service.answering.agreement`): products whose stored attributes
            agree are one more fused ranking, and the keyword leg searches the product words
            without the marketing words.
        agreement_slack: An agreeing product may disagree on this many of the text's
            attributes.
        agreement_lead: With ``exact_first`` and no exact caption match, the annotated
            products that agree on every identifying attribute the text states (at least
            two) lead instead, in fused order, and seed the look-alikes.
        likelihood: With ``lookalikes`` and no exact caption match, the photos without a
            real caption follow (after the agreeing annotated products), ranked by how likely
            the text's attributes are for them (:mod:`service.answering.likelihood`); the
            title is read into attributes only with ``agreement`` on.
        query_cache: Query text vectors kept in an LRU cache (``TUWEN_QUERY_CACHE``;
            :mod:`service.answering.query_cache`); 0 = none.
    """

    def __init__(
        self,
        store: Store,
        encoder: QueryEncoder,
        *,
        prefetch: int = 50,
        rrf_k: int = 60,
        batch_texts: bool = False,
        batch_max: int = 16,
        batch_wait_ms: float = 0.0,
        look: bool = True,
        look_rrf_k: int = 10,
        lookalike_rrf_k: int = 61,
        agreement: bool = True,
        agreement_slack: int = 1,
        agreement_lead: bool = True,
        likelihood: bool = True,
        query_cache: int = 0,
    ) -> None:
        store.require()  # the collection exists...
        store.ensure(encoder.fingerprint)  # ...and was built with this model
        self.lexicon = stored_lexicon(store)  # questions are read as the captions were
        self.agreement = agreement
        self.agreement_slack = agreement_slack
        self.agreement_lead = agreement_lead
        self.likelihood = likelihood
        self.store = store
        self.encoder = encoder
        self.prefetch = prefetch
        self.rrf_k = rrf_k
        self.look = look and store.has_look
        self.look_rrf_k = look_rrf_k
        self.lookalike_rrf_k = lookalike_rrf_k
        self.cache = QueryCache(query_cache)
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
        return self.cache.encode(texts, self._encode_uncached)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        if self.batcher is not None:
            try:
                return self.batcher.encode(texts)
            except BatcherClosed:  # shutting down: serve this one directly
                pass
        return self.encoder.encode_texts(texts)

    # ------------------------------------------------------------------ text → products
    def search(
        self,
        text: str,
        k: int = 10,
        *,
        captioned_only: bool = False,
        exact_first: bool = False,
        lookalikes: int = 0,
        timings: Timings | None = None,
        filters: Filters = (),
    ) -> list[Hit]:
        """Products for a text, best first: the one text search (see :meth:`search_batch`)."""
        return self.search_batch(
            [text],
            k,
            captioned_only=captioned_only,
            exact_first=exact_first,
            lookalikes=lookalikes,
            timings=timings,
            filters=filters,
        )[0]

    def search_batch(
        self,
        texts: Sequence[str],
        k: int = 10,
        *,
        captioned_only: bool = False,
        exact_first: bool = False,
        lookalikes: int = 0,
        timings: Timings | None = None,
        filters: Filters = (),
    ) -> list[list[Hit]]:
        """Products for each text, best first, each product at most once.

        The ranking is hybrid: the CLIP text vector against ``image`` and ``caption`` plus
        the jieba keywords against ``keywords`` and, with ``agreement``, the products whose
        attributes agree with the text's, fused with RRF in one store query. The texts share
        one encoder call (and, with batching on, concurrent searches' calls).

        Args:
            texts: Product texts or questions.
            k: Products per text.
            captioned_only: Annotated products only.
            exact_first: The products whose caption is exactly the text (stripped) lead, with
                score 1.0: a product searched by its own title comes first, even where
                another ranks higher on the fused legs. Without one, the fused hits whose
                caption the text quotes whole lead instead (a caption with another shop's
                marketing words around it: :func:`~service.answering.agreement.quoting`).
                Without either, and with ``agreement_lead``, the annotated products agreeing
                on every identifying attribute the text states lead (in fused order).
            lookalikes: After the exact matches, photos without a caption ranked by fusing
                the photos nearest to up to this many exact matches (else to the best
                caption hit) with the text's own photo hits: a caption match leads on to
                the visually similar photos that have no caption of their own. 0: none.
                Without an exact match, and with ``likelihood``, the photos most likely to
                have the text's attributes come first.
            timings: Accumulates encode and search milliseconds.
            filters: Only products whose stored attributes pass this filter
                (:func:`ingest.store.facets.as_filters`: any of the values per field).

        Returns:
            One ranking per text.

        Raises:
            ValueError: For ``lookalikes`` with ``captioned_only`` or without ``exact_first``.
        """
        if lookalikes and (captioned_only or not exact_first):
            raise ValueError(
                "lookalikes are photos without a caption ranked after the exact caption "
                "matches: they need exact_first=True and captioned_only=False"
            )
        if not texts:
            return []
        t0 = time.perf_counter()
        vecs = self._encode_texts(list(texts))
        t1 = time.perf_counter()
        depth = max(k, self.prefetch) if lookalikes else k
        read = [self._read(t) for t in texts]
        hybrid = fuse(
            self.store,
            [
                replace(self._hybrid(p, v, depth, captioned_only), filters=filters)
                for p, v in zip(read, vecs, strict=True)
            ],
        )
        exacts = [
            [h for h in self.store.with_caption(p.text.strip(), limit=k) if passes(h, filters)]
            or quoting(hits, p.text)
            if exact_first
            else []
            for p, hits in zip(read, hybrid, strict=True)
        ]
        likely = self._likely(read, vecs, exacts, filters) if lookalikes else [[]] * len(read)
        results = []
        for product, vec, hits, exact, ranked in zip(
            read, vecs, hybrid, exacts, likely, strict=True
        ):
            if exact_first and self.agreement_lead and not exact:
                exact = agreeing(hits, product.attributes)
            similar = (
                self._lookalikes(vec, hits, exact, lookalikes, depth, filters) if lookalikes else []
            )
            results.append(_unique([*exact, *ranked, *similar, *hits], k))
        if timings is not None:
            timings.encode += (t1 - t0) * 1000
            timings.search += (time.perf_counter() - t1) * 1000
        return results

    def _read(self, text: str) -> ProductText:
        """The text as search inputs: parsed with the lexicon when agreement is on."""
        if not self.agreement:
            return ProductText(text, {}, text)
        return read_product_text(text, self.lexicon)

    def _hybrid(self, product: ProductText, vec: np.ndarray, k: int, captioned_only: bool) -> Fused:
        n = max(self.prefetch, k)
        legs = [Leg(vec, IMAGE, n), Leg(vec, CAPTION, n)]
        sparse = sparse_vector(product.keywords)
        if sparse:
            legs.append(Leg(sparse, KEYWORDS, n))
        agree = agreement_leg(product, vec, n, slack=self.agreement_slack)
        if agree is not None:
            legs.append(agree)
        return Fused(tuple(legs), limit=k, k=self.rrf_k, captioned_only=captioned_only)

    def _likely(
        self,
        read: Sequence[ProductText],
        vecs: np.ndarray,
        exacts: Sequence[Sequence[Hit]],
        filters: Filters,
    ) -> list[list[Hit]]:
        """Per text without an exact caption match, the photos without a real caption by the
        likelihood of its attributes (empty for the others, or with ``likelihood`` off)."""
        requests = {
            i: likelihood_request(p.attributes, v, filters=filters)
            for i, (p, v, e) in enumerate(zip(read, vecs, exacts, strict=True))
            if self.likelihood and self.agreement and not e
        }
        wanted = {i: r for i, r in requests.items() if r is not None}
        found = dict(zip(wanted, fuse(self.store, list(wanted.values())), strict=True))
        return [by_likelihood(found.get(i, []), p.attributes) for i, p in enumerate(read)]

    def _lookalikes(
        self,
        vec: np.ndarray,
        hybrid: list[Hit],
        exact: list[Hit],
        seeds: int,
        n: int,
        filters: Filters = (),
    ) -> list[Hit]:
        real = [h for h in hybrid if h.caption and not h.generated]
        anchors = exact[:seeds] or real[:1]
        photos = [h for h in hybrid if not h.caption or h.generated]  # the text's photo hits
        stored = self.store.get([h.id for h in anchors], [IMAGE]) if anchors else []
        legs = tuple(Leg(p.vectors[IMAGE], IMAGE, n) for p in stored if IMAGE in p.vectors)
        request = Fused(
            legs,
            limit=n,
            k=self.lookalike_rrf_k,
            ranked=(photos,),
            uncaptioned_only=True,
            filters=filters,
        )
        return fuse(self.store, [request])[0]

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
        if isinstance(image, (str, Path)):
            name = str(image).replace("\\", "/").removeprefix("./")
            wanted = [IMAGE, LOOK] if self.look else [IMAGE]
            stored = self.store.get_file(name, wanted)
            if stored is None and "/" in name:
                stored = self.store.get_file(name.rsplit("/", 1)[-1], wanted)
            if stored is not None and IMAGE in stored.vectors:
                if timings is not None:
                    timings.search += (time.perf_counter() - t0) * 1000
                look = stored.vectors.get(LOOK)
                named = Path(image)
                return QueryImage(
                    np.asarray(stored.vectors[IMAGE], dtype=np.float32),
                    stored.file,
                    # a generated caption is no annotation: the photo speaks for itself
                    None if stored.payload.get("caption_source") == "generated" else stored.caption,
                    np.asarray(look, dtype=np.float32) if look is not None else None,
                    path=named if named.is_file() else None,
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
        return QueryImage(vec, look=look, photo=pil)

    def neighbours(
        self, query: QueryImage, k: int = 8, *, timings: Timings | None = None
    ) -> list[Hit]:
        """The annotated products nearest to an image, best first: by its CLIP image vector,
        fused (RRF) with its look vector when both sides have one. The image itself is
        excluded, unless it has its own caption: then it leads with score 1.0."""
        t0 = time.perf_counter()
        n = max(k, self.prefetch)
        legs = [Leg(query.vector, IMAGE, n)]
        if self.look and query.look is not None:
            legs.append(Leg(query.look, LOOK, n))
        request = Fused(
            tuple(legs),
            limit=k,
            k=self.look_rrf_k,
            captioned_only=True,
            exclude_ids=(query.id,) if query.id else (),
        )
        hits = fuse(self.store, [request])[0]
        if query.caption and query.file:
            hits = [Hit(query.id or "", query.file, query.caption, 1.0)] + hits[: k - 1]
        if timings is not None:
            timings.search += (time.perf_counter() - t0) * 1000
        return hits


def _unique(hits: Sequence[Hit], k: int) -> list[Hit]:
    """The first ``k`` hits, each product once (its first place counts)."""
    seen: set[str] = set()
    out = []
    for h in hits:
        if h.id not in seen:
            seen.add(h.id)
            out.append(h)
    return out[:k]
