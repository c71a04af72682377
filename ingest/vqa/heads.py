"""Answer heads: one linear classifier per attribute field over a photo's features, saved in
the CLIP model's directory beside the weights.

``tuwen finetune`` trains them after the contrastive epochs (:mod:`ingest.vqa.train`); they
read the frozen CLIP image vector and the look vector of a photo (both stored with every
point), and a second set also its colour histogram (:mod:`ingest.vqa.features`), used when the
pixels are at hand, mixed with a small network that reads the fields from the pixels
(:mod:`ingest.vqa.pixelnet`). With them the directory keeps what the VQA stage needs from training: the
answer vocabulary, the zero-shot text vectors and temperature, the fusion weights and the
captioner's confidence thresholds, all chosen on the training hold-out.

Files: ``vqa_heads.safetensors`` (arrays) and ``vqa_heads.json`` (the rest, with the arrays'
sha256, so a half-copied pair is refused). A model without them (a downloaded CLIP) has no
heads: :meth:`AnswerHeads.load` returns ``None``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.attributes import Lexicon
from ingest.vqa.features import PhotoFeatures
from ingest.vqa.pixelnet import PREFIX as PIXELNET_PREFIX
from ingest.vqa.pixelnet import PixelNet
from ingest.vqa.sources import softmax
from ingest.vqa.vocabulary import AnswerVocabulary

HEADS_WEIGHTS = "vqa_heads.safetensors"
HEADS_JSON = "vqa_heads.json"
_FORMAT = "tuwen-vqa-heads/1"

#: Feature sets: ``base`` (stored vectors only) and ``colour`` (with the colour histogram).
BASE, COLOUR = "base", "colour"
BLOCKS: dict[str, tuple[str, ...]] = {BASE: ("clip", "look"), COLOUR: ("clip", "look", "colour")}


class HeadsError(ValueError):
    """The heads files exist but cannot be used; the message names the file."""


@dataclass
class LinearHead:
    """A softmax classifier over standardised features.

    Attributes:
        values: The classes (candidate answers), in column order.
        weight: ``(F, C)`` float32.
        bias: ``(C,)`` float32.
    """

    values: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray

    def probs(self, x: np.ndarray) -> np.ndarray:
        """``(N, C)`` probabilities for ``(N, F)`` standardised features."""
        return softmax(x @ self.weight + self.bias)


@dataclass
class AnswerHeads:
    """Everything the VQA stage keeps from training (see the module docstring).

    Attributes:
        vocabulary: The answer vocabulary mined from the catalog's captions.
        lexicon: The lexicon the captions were parsed with.
        scaling: Feature block → ``(mean, scale)`` of the training photos.
        heads: Feature set (``base``, ``colour``) → field → its head.
        text_vectors: Field → ``(C, D)`` zero-shot text vectors of its candidate answers.
        temperature: Field → zero-shot logit scale.
        fusion: Feature set → field → source → weight.
        thresholds: Feature set → field → the fused probability above which the heads'
            answer held ``precision`` on the hold-out (``None``: never).
        report: Hold-out figures per source and fused, and the training settings.
        caption_style: How the catalog's captions are written (``order`` of the fields,
            ``separator``), for generated captions (:mod:`ingest.vqa.captioner`).
        pixel_net: The network that reads the fields from the pixels
            (:mod:`ingest.vqa.pixelnet`), or ``None``.
        pixel_mix: Field → the network's share in the ``colour`` feature set's heads
            probabilities (the rest is the linear head's), chosen on the hold-out.
        digest: The sha256 of the saved arrays (set by :meth:`save` and :meth:`load`).
    """

    vocabulary: AnswerVocabulary
    lexicon: Lexicon | None
    scaling: dict[str, tuple[np.ndarray, np.ndarray]]
    heads: dict[str, dict[str, LinearHead]]
    text_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    temperature: dict[str, float] = field(default_factory=dict)
    fusion: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    thresholds: dict[str, dict[str, float | None]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    caption_style: dict[str, Any] = field(default_factory=dict)
    pixel_net: PixelNet | None = None
    pixel_mix: dict[str, float] = field(default_factory=dict)
    digest: str = ""

    # ------------------------------------------------------------------ using
    def variant(self, name: str, has_colour: bool) -> str:
        """The feature set field ``name`` uses: ``colour`` when the histogram is given and a
        colour head was kept for the field (it did better on the hold-out), else ``base``."""
        return COLOUR if has_colour and name in self.heads.get(COLOUR, {}) else BASE

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields with a head."""
        return tuple(self.heads.get(BASE, {}))

    def design(self, features: PhotoFeatures, variant: str) -> np.ndarray:
        """Standardised ``(N, F)`` features of a feature set; a missing block reads as the
        training mean (zeros)."""
        parts = []
        for block in BLOCKS[variant]:
            if block not in self.scaling:
                continue  # trained without it
            mean, scale = self.scaling[block]
            raw = getattr(features, block)
            if raw is None:
                parts.append(np.zeros((len(features), len(mean)), dtype=np.float32))
            else:
                parts.append((np.asarray(raw, dtype=np.float32) - mean) / scale)
        return np.concatenate(parts, axis=1)

    def probabilities(self, features: PhotoFeatures) -> dict[str, tuple[str, np.ndarray]]:
        """Field → (the feature set used, the heads' ``(N, C)`` probabilities)."""
        designs: dict[str, np.ndarray] = {}
        net: dict[str, np.ndarray] | None = None
        out = {}
        for name in self.fields:
            variant = self.variant(name, features.colour is not None)
            if variant not in designs:
                designs[variant] = self.design(features, variant)
            p = self.heads[variant][name].probs(designs[variant])
            share = self.pixel_mix.get(name, 0.0) if variant == COLOUR else 0.0
            if share > 0 and self.pixel_net is not None and features.pixels is not None:
                if net is None:
                    net = self.pixel_net.probs(features.pixels)
                if name in net:
                    p = (1.0 - share) * p + share * net[name]
            out[name] = (variant, p)
        return out

    def predict(
        self,
        image_vectors: np.ndarray,
        colour_features: np.ndarray | None = None,
        look_vectors: np.ndarray | None = None,
    ) -> list[dict[str, list[tuple[str, float]]]]:
        """The heads' candidate answers for photos, most probable first.

        Args:
            image_vectors: ``(N, D)`` CLIP image vectors of the model these heads belong to.
            colour_features: ``(N, COLOUR_DIM)`` colour histograms, when the pixels are known.
            look_vectors: ``(N, 256)`` look vectors (zeros where a photo has none).

        Returns:
            Per photo: field → ``[(value, probability), ...]`` over the field's vocabulary.
        """
        vectors = np.atleast_2d(np.asarray(image_vectors, dtype=np.float32))
        features = PhotoFeatures(vectors, look_vectors, colour_features)
        out: list[dict[str, list[tuple[str, float]]]] = [{} for _ in range(len(vectors))]
        for name, (_, p) in self.probabilities(features).items():
            values = self.heads[BASE][name].values
            for i, row in enumerate(p):
                order = np.argsort(-row, kind="stable")
                out[i][name] = [(values[j], float(row[j])) for j in order]
        return out

    def weights(self, name: str, variant: str) -> dict[str, float] | None:
        """The fusion weights of a field and feature set (``None``: not chosen)."""
        return self.fusion.get(variant, {}).get(name)

    # ------------------------------------------------------------------ files
    def save(self, model_dir: str | Path) -> None:
        """Writes the two files into ``model_dir`` (each replaced whole, JSON last).

        Args:
            model_dir: The CLIP model's directory.
        """
        from safetensors.numpy import save

        arrays: dict[str, np.ndarray] = {}
        for block, (mean, scale) in self.scaling.items():
            arrays[f"scaling.{block}.mean"] = mean
            arrays[f"scaling.{block}.scale"] = scale
        for variant, heads in self.heads.items():
            for name, head in heads.items():
                arrays[f"head.{variant}.{name}.weight"] = head.weight
                arrays[f"head.{variant}.{name}.bias"] = head.bias
        for name, vectors in self.text_vectors.items():
            arrays[f"text.{name}"] = vectors
        if self.pixel_net is not None:
            arrays.update(self.pixel_net.arrays())
        blob = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()})
        self.digest = hashlib.sha256(blob).hexdigest()
        doc = {
            "format": _FORMAT,
            "weights_sha256": self.digest,
            "vocabulary": self.vocabulary.to_dict(),
            "lexicon": self.lexicon.to_dict() if self.lexicon is not None else None,
            "heads": {
                v: {n: list(h.values) for n, h in hs.items()} for v, hs in self.heads.items()
            },
            "temperature": self.temperature,
            "fusion": self.fusion,
            "thresholds": self.thresholds,
            "report": self.report,
            "caption_style": self.caption_style,
            "pixel_net": self.pixel_net.to_dict() if self.pixel_net is not None else None,
            "pixel_mix": self.pixel_mix,
        }
        out = Path(model_dir)
        _replace(out / HEADS_WEIGHTS, blob)
        text = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        _replace(out / HEADS_JSON, text.encode("utf-8"))

    @classmethod
    def load(cls, model_dir: str | Path) -> AnswerHeads | None:
        """The heads saved in a model directory.

        Args:
            model_dir: A CLIP model directory (a hub id or a missing path has none).

        Returns:
            The heads, or ``None`` when the directory has none.

        Raises:
            HeadsError: The files are there but incomplete, mismatched or malformed.
        """
        directory = Path(model_dir)
        meta_path, weights_path = directory / HEADS_JSON, directory / HEADS_WEIGHTS
        if not meta_path.is_file():
            return None
        try:
            doc = json.loads(meta_path.read_text(encoding="utf-8"))
            blob = weights_path.read_bytes()
        except (OSError, json.JSONDecodeError) as e:
            raise HeadsError(f"{meta_path}: cannot read the answer heads: {e}") from e
        if doc.get("format") != _FORMAT:
            raise HeadsError(f"{meta_path}: unsupported format {doc.get('format')!r}")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != doc.get("weights_sha256"):
            raise HeadsError(
                f"{weights_path} does not match {meta_path} (sha256 differs): copy both files "
                "together, or retrain them with `tuwen finetune --heads-only`"
            )
        try:
            return cls._from(doc, blob, digest)
        except (KeyError, ValueError, TypeError) as e:
            raise HeadsError(f"{meta_path}: malformed answer heads: {e}") from e

    @classmethod
    def _from(cls, doc: dict[str, Any], blob: bytes, digest: str) -> AnswerHeads:
        from safetensors.numpy import load

        arrays = load(blob)
        scaling = {}
        for key in arrays:
            if key.startswith("scaling.") and key.endswith(".mean"):
                block = key[len("scaling.") : -len(".mean")]
                scaling[block] = (arrays[key], arrays[f"scaling.{block}.scale"])
        heads = {
            variant: {
                name: LinearHead(
                    tuple(values),
                    arrays[f"head.{variant}.{name}.weight"],
                    arrays[f"head.{variant}.{name}.bias"],
                )
                for name, values in fields.items()
            }
            for variant, fields in doc["heads"].items()
        }
        lexicon = doc.get("lexicon")
        net = doc.get("pixel_net")
        pixel_net = (
            PixelNet.from_saved(
                net, {k: v for k, v in arrays.items() if k.startswith(PIXELNET_PREFIX)}
            )
            if net
            else None
        )
        return cls(
            vocabulary=AnswerVocabulary.from_dict(doc["vocabulary"]),
            lexicon=Lexicon.from_dict(lexicon) if lexicon else None,
            scaling=scaling,
            heads=heads,
            text_vectors={k[len("text.") :]: v for k, v in arrays.items() if k.startswith("text.")},
            temperature={k: float(v) for k, v in doc.get("temperature", {}).items()},
            fusion=doc.get("fusion", {}),
            thresholds=doc.get("thresholds", {}),
            report=doc.get("report", {}),
            caption_style=doc.get("caption_style", {}),
            pixel_net=pixel_net,
            pixel_mix={k: float(v) for k, v in (doc.get("pixel_mix") or {}).items()},
            digest=digest,
        )


def _replace(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
