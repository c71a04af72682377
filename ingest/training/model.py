"""The model to train: a pretrained CLIP-family model (``--base``) or a small Chinese-CLIP
built from scratch with a vocabulary from the captions; layer freezing; saving."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ingest.images import Preprocess
from ingest.models.clip import ClipEncoder

log = logging.getLogger(__name__)

FREEZE_CHOICES = ("none", "vision", "text")


@dataclass
class Trainable:
    """A CLIP-family model with what it needs to read pixels and text, as production reads them.

    Attributes:
        model: The model (float32, train mode).
        tokenizer: Its tokenizer.
        image_processor: Its image processor (saved with the model).
        preprocess: Resize and normalisation read from the image processor.
        max_text_length: Token limit, as :class:`ClipEncoder` applies it.
        token_type_ids: Whether the text tower takes token type ids (Chinese-CLIP).
        source: The base model, or ``scratch:<size>``.
        processor: The combined processor, when the model has one (saved with the model).
    """

    model: nn.Module
    tokenizer: object
    image_processor: object
    preprocess: Preprocess
    max_text_length: int
    token_type_ids: bool
    source: str
    processor: object | None = None

    @property
    def image_size(self) -> int:
        return int(self.preprocess.output_size[0])

    def save(self, out_dir: Path) -> None:
        """``save_pretrained`` of model, processor and tokenizer into ``out_dir``."""
        self.model.save_pretrained(out_dir)
        if self.processor is not None:
            self.processor.save_pretrained(out_dir)
        else:
            self.tokenizer.save_pretrained(out_dir)
            self.image_processor.save_pretrained(out_dir)


def _from_encoder(enc: ClipEncoder, source: str, load_from: str) -> Trainable:
    from transformers import AutoImageProcessor, AutoProcessor

    kw = {"local_files_only": True} if Path(load_from).is_dir() else {}
    image_processor = AutoImageProcessor.from_pretrained(load_from, **kw)
    try:
        processor = AutoProcessor.from_pretrained(load_from, **kw)
    except (OSError, ValueError, TypeError):
        processor = None  # tokenizer and image processor are saved separately
    model = enc.model.float().train()
    return Trainable(
        model=model,
        tokenizer=enc.tokenizer,
        image_processor=image_processor,
        preprocess=enc.preprocess,
        max_text_length=enc.max_text_length,
        token_type_ids=getattr(model.config, "model_type", "") == "chinese_clip",
        source=source,
        processor=processor,
    )


def load_base(name_or_dir: str, device: str = "cpu", revision: str | None = None) -> Trainable:
    """A pretrained Chinese-CLIP / AltCLIP / CLIP by hub id or local directory, loaded through
    the production path (:meth:`ClipEncoder.from_pretrained`) in float32.

    Raises:
        ModelNotFound: as :meth:`ClipEncoder.from_pretrained`.
    """
    enc = ClipEncoder.from_pretrained(
        name_or_dir, revision=revision, device=device, dtype="float32"
    )
    return _from_encoder(enc, str(name_or_dir), str(name_or_dir))


def build_scratch(
    captions: Sequence[str],
    size: str,
    *,
    device: str = "cpu",
    image_size: int | None = None,
    seed: int = 0,
) -> Trainable:
    """A random-weight Chinese-CLIP of a named size (``ingest.models.architectures.SIZES``)
    with a vocabulary built from ``captions``, initialised so that it trains (see
    :func:`init_for_contrastive_training`)."""
    from ingest.models.architectures import build_chinese_clip, caption_vocab

    tmp = Path(tempfile.mkdtemp(prefix="tuwen-scratch-"))
    try:
        build_chinese_clip(tmp, caption_vocab(captions), size, seed=seed, image_size=image_size)
        enc = ClipEncoder.from_pretrained(tmp, device=device, dtype="float32")
        t = _from_encoder(enc, f"scratch:{size}", str(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    torch.manual_seed(seed)
    init_for_contrastive_training(t.model)
    return t


def init_for_contrastive_training(model: nn.Module) -> None:
    """Re-initialise the text tower of a random Chinese-CLIP so that contrastive training
    starts at once instead of sitting at loss ≈ ln(batch) with collapsed embeddings.

    Why a random ``ChineseCLIPModel`` stalls where a random ``CLIPModel`` trains: its text
    tower is a post-LayerNorm BERT pooled at the ``[CLS]`` position, initialised the BERT way
    (every linear map N(0, 0.02)) with 10% dropout. Each layer computes
    ``LayerNorm(x + branch(x))``; with 0.02 weights the attention and MLP branches are ~50×
    smaller than the normalised residual ``x``, so every layer hands back essentially the
    ``[CLS]`` token's own embedding, and the token-type embedding adds one more constant to
    every token. At init all captions get the same text vector (mean pairwise cosine
    0.9999; CLIP's pre-LN, EOS-pooled text tower, whose residual stream starts at 0.02 and is
    dominated by its branches, gives ~0.99), and the gradient that reaches the caption's
    own characters is scaled down by the same small branches. Dropout then adds per-step
    noise far larger than that caption signal. Meanwhile symmetric InfoNCE at the initial
    logit scale (1/0.07) lowers its loss fastest by making every logit equal, i.e. by
    collapsing both towers onto a constant, which is the ln(batch) plateau; the temperature
    cannot help, as it barely moves in a few hundred steps. The fix gives the text tower
    CLIP's property: fan-in initialisation (std = 1/sqrt(fan_in)) of every linear map in
    its layers, so that each branch is as large as the residual it is added to and the
    ``[CLS]`` output depends on the caption (cosine ~0.87); a zero token-type embedding (a
    constant that only hides the tokens); and no dropout (CLIP's towers have none). Measured
    on catalog-dev (2-layer towers, batch 128, 150 steps): loss 3.38 as built, 3.13 without
    dropout, 1.71 with this fix, 1.85 for a CLIPModel of the same shape.
    """
    text = getattr(model, "text_model", None)
    if text is None or getattr(model.config, "model_type", "") != "chinese_clip":
        return
    with torch.no_grad():
        for layer in text.encoder.layer:
            for m in layer.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=m.in_features**-0.5)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        text.embeddings.token_type_embeddings.weight.zero_()
    for m in text.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(getattr(m, "attention_dropout", None), float):
            m.attention_dropout = 0.0  # the attention modules keep their own copy of p
    # Also in the saved config, so that a reload trains the same way.
    model.config.text_config.hidden_dropout_prob = 0.0
    model.config.text_config.attention_probs_dropout_prob = 0.0


# ---------------------------------------------------------------------------- freezing
@dataclass
class Tower:
    """One tower of a CLIP-family model: its body, its layer list and its projection."""

    name: str
    body: nn.Module
    layers: nn.ModuleList
    projection: nn.Module | None


def towers(model: nn.Module) -> dict[str, Tower]:
    """The vision and text towers of a Chinese-CLIP / AltCLIP / CLIP model."""
    out = {}
    for name, body_attr, proj_attr in (
        ("vision", "vision_model", "visual_projection"),
        ("text", "text_model", "text_projection"),
    ):
        body = getattr(model, body_attr, None)
        if body is None:
            raise ValueError(f"{type(model).__name__} has no {body_attr}; not a CLIP-family model")
        lists = [m for m in body.modules() if isinstance(m, nn.ModuleList)]
        if not lists:
            raise ValueError(f"cannot find the layers of {type(model).__name__}.{body_attr}")
        layers = max(lists, key=len)
        out[name] = Tower(name, body, layers, getattr(model, proj_attr, None))
    return out


def freeze_layers(model: nn.Module, freeze: str, unfreeze_last: int = 0) -> dict[str, int]:
    """Set ``requires_grad`` as ``--freeze`` / ``--unfreeze-last`` say.

    ``freeze`` names a tower to freeze (its embeddings, layers, final norms and projection).
    ``unfreeze_last`` N keeps the last N layers of the frozen tower trainable, with what
    follows them (final norms, pooler, projection); with ``freeze="none"`` it applies to both
    towers (only their last N layers train). The temperature always trains.

    Returns:
        Trainable and frozen parameter counts.
    """
    if freeze not in FREEZE_CHOICES:
        raise ValueError(f"--freeze must be one of {', '.join(FREEZE_CHOICES)}, not {freeze!r}")
    if unfreeze_last < 0:
        raise ValueError("--unfreeze-last must be 0 or more")
    for p in model.parameters():
        p.requires_grad_(True)
    all_towers = towers(model)
    if freeze == "none":
        targets = list(all_towers.values()) if unfreeze_last else []
    else:
        targets = [all_towers[freeze]]
    for tower in targets:
        params = list(tower.body.parameters())
        for p in params:
            p.requires_grad_(False)
        if tower.projection is not None:
            for p in tower.projection.parameters():
                p.requires_grad_(False)
        n = min(unfreeze_last, len(tower.layers))
        if n == 0:
            continue
        for layer in list(tower.layers)[-n:]:
            for p in layer.parameters():
                p.requires_grad_(True)
        # What follows the layers in registration order (final norms, pooler) trains too.
        last = {id(p) for p in tower.layers[-1].parameters()}
        idx = max(i for i, p in enumerate(params) if id(p) in last)
        for p in params[idx + 1 :]:
            p.requires_grad_(True)
        if tower.projection is not None:
            for p in tower.projection.parameters():
                p.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"trainable_params": trainable, "frozen_params": frozen}
