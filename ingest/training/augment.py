"""Batched image augmentation with torch ops (no torchvision): random resized crop,
horizontal flip and a slight brightness/contrast/saturation jitter.

There is deliberately no hue jitter: colour is an attribute users ask about ("图中商品是
什么颜色？"), so the colour of a photo must stay the colour its caption names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Augmentation settings.

    Attributes:
        scale: Range of the crop's area as a fraction of the photo.
        ratio: Range of the crop's aspect ratio (width / height).
        flip: Probability of a horizontal flip.
        jitter: Brightness, contrast and saturation factors are drawn from ``1 ± jitter``.
    """

    scale: tuple[float, float] = (0.5, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.1


def to_float(u8: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 → ``(N, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float().div_(255.0)


def normalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Apply the model's pixel normalisation to ``(N, 3, H, W)`` values in [0, 1]."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def augment(
    x: torch.Tensor, size: int, aug: Augment, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment a batch.

    Args:
        x: ``(N, 3, H, W)`` values in [0, 1] (the source may be larger than ``size``).
        size: Output side length.
        aug: What to apply.
        generator: Random source, for reproducible runs.

    Returns:
        ``(N, 3, size, size)`` values in [0, 1].
    """
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    # Random resized crop and flip as one batched affine resampling.
    area = uniform(*aug.scale)
    log_ratio = uniform(math.log(aug.ratio[0]), math.log(aug.ratio[1]))
    w = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)  # fractions of the side
    h = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - w)  # centre, in [-1, 1] coords
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(n, generator=generator) < aug.flip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    if aug.jitter > 0:
        j = aug.jitter
        brightness = uniform(1 - j, 1 + j).view(n, 1, 1, 1)
        contrast = uniform(1 - j, 1 + j).view(n, 1, 1, 1)
        saturation = uniform(1 - j, 1 + j).view(n, 1, 1, 1)
        out = out * brightness
        grey = (0.299 * out[:, 0] + 0.587 * out[:, 1] + 0.114 * out[:, 2]).unsqueeze(1)
        out = (out - grey.mean(dim=(2, 3), keepdim=True)) * contrast + grey.mean(
            dim=(2, 3), keepdim=True
        )
        grey = (0.299 * out[:, 0] + 0.587 * out[:, 1] + 0.114 * out[:, 2]).unsqueeze(1)
        out = (out - grey) * saturation + grey
    return out.clamp_(0.0, 1.0)
