"""Training the answer heads on a catalog, and choosing the VQA stage's settings on its hold-out.

The captioned photos are split as ``tuwen finetune`` splits them (:func:`ingest.training.data.
is_held_out`, by file-name hash). The heads learn on the training photos; on the held-out ones
each source is run as answering runs it — the heads, CLIP zero-shot, and the vote of the
photo's nearest training photos (CLIP and look vectors fused with RRF, as the service searches
neighbours) — and the zero-shot text vectors and temperature, the fusion weights and the
captioner's thresholds are the ones that do best there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ingest.attributes import Lexicon, caption_attributes
from ingest.settings import Settings
from ingest.vqa.captioner import caption_style
from ingest.vqa.features import PhotoFeatures
from ingest.vqa.fit import HeadsConfig, accuracy_and_nll, choose_share, fit_linear
from ingest.vqa.heads import BASE, BLOCKS, COLOUR, AnswerHeads, LinearHead
from ingest.vqa.holdout import choose, heldout_neighbours, text_vectors
from ingest.vqa.pixelnet import train_pixel_net
from ingest.vqa.sources import HEADS
from ingest.vqa.vocabulary import HEAD_FIELDS, VQA_FIELDS, AnswerVocabulary, answer_attributes

log = logging.getLogger(__name__)


def fit_heads(
    features: PhotoFeatures,
    captions: Sequence[str],
    held: np.ndarray,
    encode_texts: Callable[[list[str]], np.ndarray],
    *,
    lexicon: Lexicon | None,
    config: HeadsConfig | None = None,
    temperature: float = 100.0,
    progress: bool = False,
    deadline: float | None = None,
) -> AnswerHeads:
    """Trains the heads on the training photos and makes every choice on the held-out ones.

    Args:
        features: Features of the captioned photos (``colour`` may be ``None``).
        captions: Their captions.
        held: ``(N,)`` bool, the held-out photos.
        encode_texts: The CLIP model's text encoder (unit-length rows).
        lexicon: The catalog's lexicon (captions are parsed with it).
        config: Training settings (default: :class:`HeadsConfig`'s).
        temperature: Zero-shot logit scale when no hold-out can choose one.
        progress: Show the pixel network's progress bar.
        deadline: A ``time.monotonic()`` after which the pixel network starts no epoch.

    Returns:
        The heads (not yet saved).
    """
    config = config or HeadsConfig()
    attrs = [answer_attributes(caption_attributes(c, lexicon), lexicon) for c in captions]
    vocab = AnswerVocabulary.mine(attrs, config.min_count, lexicon)
    train = ~held
    scaling = {}
    for block in BLOCKS[COLOUR]:
        raw = getattr(features, block)
        if raw is not None:
            rows = raw[train] if train.any() else raw
            scaling[block] = (
                rows.mean(0).astype(np.float32),
                (rows.std(0) + 1e-4).astype(np.float32),
            )
    heads = AnswerHeads(vocab, lexicon, scaling, {BASE: {}})
    variants = [BASE] + ([COLOUR] if config.colour and features.colour is not None else [])
    designs = {v: heads.design(features, v) for v in variants}
    caption_vectors = encode_texts([c for c, t in zip(captions, train, strict=True) if t])
    neighbours = heldout_neighbours(features, train, config)
    net_probs = None
    linear: dict[str, np.ndarray] = {}  # the colour heads' hold-out probabilities, unmixed
    late = deadline is not None and time.monotonic() >= deadline
    if late and config.pixel_net is not None:
        log.warning("no time is left for the pixel network (--minutes): heads without it")
    if (
        COLOUR in variants
        and features.pixels is not None
        and config.pixel_net is not None
        and not late
    ):
        fields = [n for n in HEAD_FIELDS if len(vocab.of(n)) >= 2]
        heads.pixel_net = train_pixel_net(
            features.pixels,
            {n: vocab.labels(attrs, n) for n in fields},
            {n: vocab.of(n) for n in fields},
            train,
            config.pixel_net,
            progress=progress,
            deadline=deadline,
        )
        net_probs = heads.pixel_net.probs(features.pixels[held])
    report: dict = {"settings": asdict(config), "photos": len(captions), "heldout": int(held.sum())}
    for name in VQA_FIELDS:
        values = vocab.of(name)
        labels = vocab.labels(attrs, name)
        if len(values) < 2 or len(set(labels[train & (labels >= 0)])) < 2:
            continue
        probs: dict[str, dict[str, np.ndarray]] = {}
        if name in HEAD_FIELDS:
            for v in variants:
                rows = train & (labels >= 0)
                w, b = fit_linear(
                    designs[v][rows],
                    labels[rows],
                    len(values),
                    l2=config.l2,
                    max_iter=config.max_iter,
                )
                heads.heads.setdefault(v, {})[name] = LinearHead(values, w, b)
                probs[v] = {HEADS: heads.heads[v][name].probs(designs[v][held])}
                if v == COLOUR and net_probs is not None and name in net_probs:
                    linear[name] = probs[v][HEADS]
                    probs[v][HEADS] = _with_pixels(
                        heads, name, probs[v][HEADS], net_probs[name], labels[held]
                    )
        text = text_vectors(
            name, values, labels, train, held, caption_vectors, features, encode_texts
        )
        heads.text_vectors[name] = text
        choose(
            heads,
            name,
            probs,
            text,
            labels,
            held,
            neighbours,
            attrs,
            features,
            config,
            temperature,
            report,
        )
    for name in list(heads.pixel_mix):
        if name not in heads.heads.get(COLOUR, {}):
            del heads.pixel_mix[name]  # the colour feature set was dropped for this field
    if net_probs is not None:
        for name, p in net_probs.items():
            y = vocab.labels(attrs, name)[held]
            if name in report.get("fields", {}) and (y >= 0).any():
                entry = report["fields"][name]
                alone = entry.setdefault("alone", {})
                alone["pixelnet"] = round(accuracy_and_nll(p[y >= 0], y[y >= 0])[0], 4)
                if name in linear:
                    lin = linear[name][y >= 0]
                    alone[f"linear:{COLOUR}"] = round(accuracy_and_nll(lin, y[y >= 0])[0], 4)
                entry["pixel_share"] = heads.pixel_mix.get(name, 0.0)
    heads.report = report
    heads.caption_style = caption_style(captions, attrs)
    return heads


def _with_pixels(
    heads: AnswerHeads, name: str, head: np.ndarray, net: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """The colour heads' hold-out probabilities with the pixel network mixed in at the share
    that does best there (recorded in ``heads.pixel_mix``; 0 leaves the head alone)."""
    known = labels >= 0
    share = choose_share(head[known], net[known], labels[known]) if known.any() else 0.0
    if share > 0:
        heads.pixel_mix[name] = share
    return (1.0 - share) * head + share * net


def summary(report: Mapping[str, Any]) -> str:
    """One line of a heads report: each field's held-out accuracy, fused (best feature set).

    Args:
        report: :attr:`ingest.vqa.heads.AnswerHeads.report`.
    """
    parts = []
    for name, entry in report.get("fields", {}).items():
        fused = entry.get("fused") or {}
        if fused:
            parts.append(f"{name} {max(fused.values()):.3f}")
    held = report.get("heldout", 0)
    if not parts:
        return f"answer heads: no field could be scored on the hold-out ({held} photos)"
    return f"answer heads, held-out accuracy fused ({held} photos): " + ", ".join(parts)


def train_heads(
    model_dir: str | Path,
    images: str | Path,
    captions: str | Path,
    *,
    config: HeadsConfig | None = None,
    device: str | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    deadline: float | None = None,
) -> AnswerHeads:
    """Trains answer heads for a saved CLIP model on a catalog and saves them beside it.

    The photos are embedded as ``tuwen ingest`` embeds them (the same device, dtype and int8
    image tower, from ``settings``), so the heads learn on the vectors they will be given: a
    model whose photos lie close together (one barely trained) has little spread between
    them, and the heads must see the small differences int8 makes.

    Args:
        model_dir: The CLIP model's directory (the heads are written into it).
        images: The catalog's photo folder.
        captions: Its caption CSV.
        config: Training settings (default: :class:`HeadsConfig`'s).
        device: Where the CLIP model runs (default: ``settings.device``).
        settings: The settings ingest runs with (default: from the environment).
        progress: Show a progress bar while the pixel network trains.
        deadline: A ``time.monotonic()`` after which the pixel network starts no epoch
            (``tuwen finetune --minutes``).

    Returns:
        The saved heads.

    Raises:
        ValueError: When no captioned photo can be read (the message names the CSV).
    """
    from ingest.catalog import load_catalog
    from ingest.models.roles import load_encoders
    from ingest.training.data import catalog_pairs, decode_images, is_held_out

    config = config or HeadsConfig()
    settings = settings or Settings()
    encoder = load_encoders(
        model_dir,
        device=device or settings.device,
        dtype=settings.dtype,
        image_int8=settings.image_int8,
        text_int8=False,
        int8_runtime=settings.int8_runtime,
        cache_dir=settings.cache_dir,
    ).document
    pairs = catalog_pairs(load_catalog(images, captions))
    pixels, kept = decode_images(pairs, encoder.preprocess)
    pairs = [pairs[i] for i in kept]
    if not pairs:
        raise ValueError(f"{captions}: no captioned photo could be read; answer heads need some")
    vectors = np.concatenate(
        [encoder.encode_pixels(pixels[i : i + 128]) for i in range(0, len(pixels), 128)]
    )
    held = np.asarray([is_held_out(p.rel, config.holdout) for p in pairs])
    lexicon = Lexicon.learn(p.caption for p in pairs)
    scale = getattr(encoder.model, "logit_scale", None)
    heads = fit_heads(
        PhotoFeatures.from_pixels(vectors, pixels),
        [p.caption for p in pairs],
        held,
        lambda texts: (
            np.concatenate(
                [encoder.encode_texts(texts[i : i + 256]) for i in range(0, len(texts), 256)]
            )
            if texts
            else np.zeros((0, encoder.dim), np.float32)
        ),
        lexicon=lexicon,
        config=config,
        temperature=float(scale.detach().exp()) if scale is not None else 100.0,
        progress=progress,
        deadline=deadline,
    )
    heads.save(model_dir)
    return heads
