"""Augmentations of event frames [T, C, H, W], applied after the frame cache. They draw from
torch's generator, which the training loader seeds per sample (engine/batches.py), so a resumed
run draws the same.

- flip: mirror left-right with probability 1/2;
- roll: shift by up to ±roll pixels in x and y, wrapping around (the shift most DVS papers use);
- drop: remove each event with probability `drop` — binomial thinning of the counts, which has
  the same distribution as dropping events before framing;
- nda: the neuromorphic data augmentation policy of Li et al. (ECCV 2022): a flip, then one
  geometric transform drawn from {roll, rotation, shear}. Mixing between samples (CutMix) is
  left out.
"""

import math

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F


def _chance(probability: float) -> bool:
    return bool(torch.rand(()) < probability)


def _uniform(low: float, high: float) -> float:
    return float(low + (high - low) * torch.rand(()))


def flip(frames: torch.Tensor) -> torch.Tensor:
    return frames.flip(-1) if _chance(0.5) else frames


def roll(frames: torch.Tensor, pixels: int) -> torch.Tensor:
    dx, dy = (int(torch.randint(-pixels, pixels + 1, ())) for _ in range(2))
    return frames.roll(shifts=(dy, dx), dims=(-2, -1))


def drop(frames: torch.Tensor, probability: float) -> torch.Tensor:
    return torch.distributions.Binomial(total_count=frames, probs=torch.full_like(frames, 1 - probability)).sample()


def nda(frames: torch.Tensor) -> torch.Tensor:
    frames = flip(frames)
    choice = int(torch.randint(3, ()))
    if choice == 0:
        return roll(frames, max(1, frames.shape[-1] // 8))
    angle, shear = (_uniform(-15, 15), 0.0) if choice == 1 else (0.0, math.degrees(_uniform(-0.3, 0.3)))
    return F.affine(
        frames, angle=angle, translate=[0, 0], scale=1.0, shear=[shear, 0.0], interpolation=InterpolationMode.NEAREST
    )


def frame_augmentation(flip_lr: bool, roll_pixels: int, drop_probability: float, use_nda: bool):
    """The training-split augmentation, or None when every option is off (bounds: the recipe's)."""
    steps = []
    if use_nda:
        steps.append(nda)
    elif flip_lr:
        steps.append(flip)
    if roll_pixels and not use_nda:
        steps.append(lambda x: roll(x, roll_pixels))
    if drop_probability:
        steps.append(lambda x: drop(x, drop_probability))
    if not steps:
        return None

    def augment(frames: torch.Tensor) -> torch.Tensor:
        for step in steps:
            frames = step(frames)
        return frames

    return augment
