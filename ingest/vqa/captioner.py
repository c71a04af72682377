"""Captions for photos without one, from the answer heads' confident fields.

:class:`HeadsCaptioner` implements the captioner seam (:mod:`ingest.captioning`) with the
heads saved in a CLIP model's directory: for each photo, the heads and CLIP zero-shot are
fused per field (the weights chosen on the hold-out, without the neighbour vote, which the
captioner does not have), and a field is kept when its best value's probability reaches the
threshold under which the hold-out answers held the wanted precision (0.9 by default). The
kept values are written in the catalog's own order and spacing (:func:`caption_style`, learned
from its captions at training), e.g. ``男士黑色休闲衬衫``. Every field's plausible values
(probability at least :data:`LIKELY_FLOOR`, at most :data:`LIKELY_TOP`) are proposed too, as
``likely``: retrieval ranks the photo by how likely a product text's attributes are for it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ingest.captioning import Generated
from ingest.vqa.features import PhotoFeatures
from ingest.vqa.heads import AnswerHeads
from ingest.vqa.sources import HEADS, VOTE, ZERO_SHOT, fuse, top, zero_shot
from ingest.vqa.vocabulary import HEAD_FIELDS

#: Two Chinese words separated by a space: a caption that spaces its fields (男士款 白色).
_SPACED = re.compile(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]")
#: The field order when the catalog shows none: brand, gender, colour, usage, product.
DEFAULT_ORDER: tuple[str, ...] = ("brand", "gender", "color", "usage", "category")
#: A value less probable than this is not stored as plausible for a photo.
LIKELY_FLOOR = 0.02
#: At most this many plausible values per field.
LIKELY_TOP = 8
#: The layout of what the captioner proposes; part of its name, so a collection captioned
#: with an older layout is captioned again by the next run.
PROPOSAL_VERSION = 2


def caption_style(captions: Sequence[str], attributes: Sequence[Mapping[str, str]]) -> dict:
    """How a catalog writes its captions: the most common order of the fields, and whether
    most captions separate Chinese words with spaces.

    Args:
        captions: The captions.
        attributes: Their parsed fields (same order).

    Returns:
        ``{"order": [field, ...], "separator": " " or ""}``.
    """
    orders: Counter[tuple[str, ...]] = Counter()
    spaced = 0
    for caption, attrs in zip(captions, attributes, strict=True):
        found = {n: _position(caption, v) for n, v in attrs.items() if n in DEFAULT_ORDER}
        found = {n: i for n, i in found.items() if i >= 0}
        if len(found) >= 3:
            orders[tuple(sorted(found, key=lambda n: found[n]))] += 1
        spaced += bool(_SPACED.search(caption))
    order = list(orders.most_common(1)[0][0]) if orders else []
    order += [n for n in DEFAULT_ORDER if n not in order]
    return {"order": order, "separator": " " if 2 * spaced > len(captions) else ""}


def _position(caption: str, value: str) -> int:
    """Where a canonical value is written in a caption, also as its shorter spelling
    (男士 as 男, 藏青色 as 藏青); -1 when it is not."""
    for form in (value, value.removesuffix("色"), value.removesuffix("士")):
        if form:
            at = caption.find(form)
            if at >= 0:
                return at
    return -1


def compose(values: Mapping[str, str], style: Mapping[str, Any]) -> str | None:
    """A caption of the given field values in the catalog's style (``None`` for none).

    Args:
        values: Field → value of the confident fields.
        style: :func:`caption_style`'s result.
    """
    order = list(style.get("order") or DEFAULT_ORDER)
    parts = [values[n] for n in order if values.get(n)]
    if not parts:
        return None
    separator = style.get("separator", "")
    text = parts[0]
    for part in parts[1:]:
        glue = separator
        if not glue and text[-1].isascii() and text[-1].isalnum():
            glue = " "  # a Latin brand keeps a space before what follows
        text += glue + part
    return text


class HeadsCaptioner:
    """Captions from the answer heads (see the module docstring).

    Args:
        heads: The loaded heads.
        preprocess: The CLIP model's preprocessing (the photo's look vector and colours are
            of the pixels the model sees).
        name: The captioner's identity: the CLIP model's fingerprint and the heads' digest.
    """

    def __init__(self, heads: AnswerHeads, preprocess: Any, name: str) -> None:
        self.heads = heads
        self.preprocess = preprocess
        self.name = name

    @classmethod
    def from_model_dir(
        cls, model_dir: str | Path, encoder: Any = None, **_: Any
    ) -> HeadsCaptioner | None:
        """The captioner of a CLIP model directory, or ``None`` when it has no heads.

        Args:
            model_dir: The CLIP model's directory.
            encoder: That model, loaded (its preprocessing is reused); ``None``: read from
                the directory's processor config.

        Raises:
            HeadsError: The heads files exist but cannot be used.
            ModelNotFound: The model's config cannot be read.
        """
        from ingest.models.fingerprint import fingerprint_of

        heads = AnswerHeads.load(model_dir)
        if heads is None:
            return None
        if encoder is not None and getattr(encoder, "preprocess", None) is not None:
            preprocess = encoder.preprocess
        else:
            from transformers import AutoImageProcessor

            from ingest.models.loading import preprocess_from

            preprocess = preprocess_from(AutoImageProcessor.from_pretrained(str(model_dir)))
        fp = fingerprint_of(model_dir)
        name = f"vqa-heads/{PROPOSAL_VERSION}:{fp.model}@{fp.revision}:{heads.digest[:16]}"
        return cls(heads, preprocess, name)

    def caption(self, images: Sequence[Image.Image], image_vectors: np.ndarray) -> list[Generated]:
        """One proposal per photo: its confident fields, a caption of them, and every
        field's plausible values.

        Args:
            images: The decoded photos (RGB).
            image_vectors: Their CLIP image vectors of this model.
        """
        if not images:
            return []
        pixels = np.stack([self.preprocess.to_array(im) for im in images])
        features = PhotoFeatures.from_pixels(np.asarray(image_vectors, np.float32), pixels)
        probs = self.heads.probabilities(features)
        out = []
        for i in range(len(images)):
            confident: dict[str, str] = {}
            likely: dict[str, dict[str, float]] = {}
            for name in HEAD_FIELDS:
                if name not in probs:
                    continue
                variant, p = probs[name]
                fused = self._fused(name, variant, p[i], features.clip[i])
                if not fused:
                    continue
                likely[name] = plausible(fused)
                threshold = self.heads.thresholds.get(variant, {}).get(name)
                value, best = next(iter(fused.items()))
                if threshold is not None and best >= threshold:
                    confident[name] = value
            out.append(Generated(compose(confident, self.heads.caption_style), confident, likely))
        return out

    def _fused(
        self, name: str, variant: str, head_probs: np.ndarray, vector: np.ndarray
    ) -> dict[str, float]:
        """The field's heads and zero-shot distributions fused, most probable first."""
        values = self.heads.vocabulary.of(name)
        dists = {HEADS: dict(zip(values, map(float, head_probs), strict=True))}
        text = self.heads.text_vectors.get(name)
        if text is not None:
            t = self.heads.temperature.get(name, 100.0)
            dists[ZERO_SHOT] = dict(
                zip(values, map(float, zero_shot(vector, text, t)), strict=True)
            )
        weights = {s: w for s, w in (self.heads.weights(name, variant) or {}).items() if s != VOTE}
        if sum(weights.values()) <= 0:
            weights = {HEADS: 1.0}
        return fuse(dists, weights)


def plausible(dist: Mapping[str, float]) -> dict[str, float]:
    """The values of a distribution (most probable first) worth storing: probability at least
    :data:`LIKELY_FLOOR`, at most :data:`LIKELY_TOP` of them, rounded to four places."""
    return {v: round(float(p), 4) for v, p in top(dist, LIKELY_TOP, LIKELY_FLOOR)}
