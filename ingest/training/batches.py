"""Model-ready batches from photos decoded once and captions tokenised once, and the
normalised embeddings a model gives for them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ingest.training.augment import Augment, augment, normalise, to_float
from ingest.training.data import caption_ids
from ingest.training.loss import token_bags
from ingest.training.model import Trainable


class Batches:
    """Pre-decoded photos and pre-tokenised captions, served as model-ready batches.

    Args:
        trainable: The model being trained (its tokenizer, input size and normalisation).
        pixels: ``(N, H, W, 3)`` uint8 photos.
        captions: The ``N`` captions, in the photos' order.
        device: Where batches are sent.
        aug: Random augmentation for training batches (``None``: photos only resized).
        generator: The random generator of the augmentation.
    """

    def __init__(
        self,
        trainable: Trainable,
        pixels: np.ndarray,
        captions: list[str],
        device: torch.device,
        *,
        aug: Augment | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.t = trainable
        self.pixels = pixels
        self.ids = torch.from_numpy(caption_ids(captions))
        self.tokens = trainable.tokenizer(
            captions,
            padding=True,
            truncation=True,
            max_length=trainable.max_text_length,
            return_tensors="pt",
            return_token_type_ids=trainable.token_type_ids,
        )
        self.device = device
        self.aug = aug
        self.generator = generator
        self._bags: torch.Tensor | None = None

    def bags(self, idx: np.ndarray) -> torch.Tensor:
        """Token rows of the captions (for :func:`ingest.training.loss.soft_targets`)."""
        if self._bags is None:
            tok = self.t.tokenizer
            special = {i for i in tok.all_special_ids if i is not None}
            self._bags = token_bags(self.tokens["input_ids"], len(tok), special)
        return self._bags[torch.from_numpy(idx)].to(self.device)

    def __len__(self) -> int:
        return len(self.pixels)

    def images(self, idx: np.ndarray) -> torch.Tensor:
        """The photos ``idx`` as a normalised ``(B, 3, S, S)`` batch (augmented if set)."""
        x = to_float(self.pixels[idx])
        if self.aug is not None:
            x = augment(x, self.t.image_size, self.aug, self.generator)
        elif x.shape[-1] != self.t.image_size:
            x = F.interpolate(x, size=self.t.image_size, mode="bicubic", antialias=True)
        x = normalise(x, self.t.preprocess.mean, self.t.preprocess.std)
        return x.to(self.device, non_blocking=True)

    def texts(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """The tokenised captions ``idx``, trimmed to the batch's longest."""
        idx_t = torch.from_numpy(idx)
        mask = self.tokens["attention_mask"][idx_t]
        n = int(mask.sum(1).max())  # trim the padding this batch does not need
        return {k: v[idx_t, :n].to(self.device) for k, v in self.tokens.items()}


def features(model: Any, batches: Batches, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised float32 image and caption embeddings of the pairs ``idx``."""
    img = model.get_image_features(pixel_values=batches.images(idx))
    txt = model.get_text_features(**batches.texts(idx))
    img = img if isinstance(img, torch.Tensor) else img.pooler_output
    txt = txt if isinstance(txt, torch.Tensor) else txt.pooler_output
    return F.normalize(img.float(), dim=-1), F.normalize(txt.float(), dim=-1)
