"""Batch augmentation on the device: random crop with zero padding and random horizontal flip.

Done on whole batches with one gather, in the airbench style: the data set lives on the device as
one tensor and no DataLoader workers are needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(
    x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly crop each sample of `x` (B, C, H, W) from its zero-padded version and flip it.

    Each sample gets its own shift in [-pad, pad] per axis and, when `flip`, a horizontal flip
    with probability 1/2. Random numbers come from `generator` (on its own device, then moved to
    x's device) for reproducible runs. Vectorised: one padded copy and one gather, no Python loop
    over samples. With pad=0 and flip=False the input itself is returned.
    """
    if x.dim() != 4:
        raise ValueError(f"random_crop_flip needs a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if pad == 0 and not flip:
        return x
    b, c, h, w = x.shape
    rand_device = generator.device if generator is not None else x.device
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=rand_device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=rand_device).to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H) rows of the padded image
    cols = torch.arange(w, device=x.device).expand(b, w)
    if flip:
        flipped = torch.rand(b, generator=generator, device=rand_device).to(x.device) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(1), cols)  # read columns right to left
    cols = dx[:, None] + cols  # (B, W)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]
