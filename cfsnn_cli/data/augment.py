"""Augmentations for static images, each a recipe option of the image dataset kinds."""

import torch
from torchvision import transforms


class Cutout:
    """Zero one random size×size square of a [C, H, W] tensor (DeVries & Taylor, 2017)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        _, height, width = image.shape
        cy = int(torch.randint(height, ()))
        cx = int(torch.randint(width, ()))
        half = self.size // 2
        image = image.clone()
        image[:, max(cy - half, 0) : cy + half + self.size % 2, max(cx - half, 0) : cx + half + self.size % 2] = 0
        return image


def image_transform(
    *,
    train: bool,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    crop: transforms.RandomCrop | transforms.RandomResizedCrop | None,
    flip: bool,
    autoaugment: transforms.AutoAugmentPolicy | None,
    cutout: int,
    eval_resize: list | None = None,
) -> transforms.Compose:
    """PIL image → normalised tensor, with the training augmentations only when `train`."""
    steps: list = []
    if train:
        steps += [crop] if crop is not None else []
        steps += [transforms.RandomHorizontalFlip()] if flip else []
        steps += [transforms.AutoAugment(autoaugment)] if autoaugment is not None else []
    else:
        steps += eval_resize or []
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    if train and cutout > 0:
        steps.append(Cutout(cutout))
    return transforms.Compose(steps)
