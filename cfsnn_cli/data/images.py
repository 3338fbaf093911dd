"""Static image datasets through torchvision: CIFAR-10/100 and ImageNet-style folders.

Nothing is downloaded unless the recipe says `download = true`. Real CIFAR files go through
torchvision's stock classes, which check every batch file's md5 against the official release
before reading it.
"""

from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge
from torchvision import datasets, transforms

from cfsnn_cli.data.augment import image_transform
from cfsnn_cli.data.base import DatasetSplit
from cfsnn_cli.data.registry import DATASETS, INPUT_SHAPES
from cfsnn_cli.errors import CfsnnError, require
from cfsnn_cli.options import NonNegativeInt

CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _root(root: str, kind: str, expected: str) -> Path:
    require(bool(root), "root", f"{kind} needs data.root, the folder that holds {expected} (or `data_root`)")
    path = Path(root).expanduser()
    require(path.is_dir(), "root", f"{path} is not a folder (it should hold {expected})")
    return path


def _cifar(
    kind: str, cls, folder: str, split, augment, root, download, crop_padding, flip, autoaugment, cutout
) -> DatasetSplit:
    path = _root(root, kind, f"{folder}/") if not download else Path(root or ".").expanduser()
    mean, std = CIFAR_STATS[kind]
    transform = image_transform(
        train=augment,
        mean=mean,
        std=std,
        crop=transforms.RandomCrop(32, padding=crop_padding) if crop_padding else None,
        flip=flip,
        autoaugment=transforms.AutoAugmentPolicy.CIFAR10 if autoaugment else None,
        cutout=cutout,
    )
    try:
        dataset = cls(str(path), train=split == "train", transform=transform, download=download)
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
        raise CfsnnError(
            "root",
            f"{path / folder} is missing or does not match the official {kind} release ({error}); "
            f"get it from https://www.cs.toronto.edu/~kriz/cifar.html or set data.download = true",
        ) from None
    return DatasetSplit(
        dataset=dataset, num_classes=len(dataset.classes), input_shape=(3, 32, 32), class_names=list(dataset.classes)
    )


def _register_cifar(kind: str, cls, folder: str, title: str):
    def build(
        split: Literal["train", "test"],
        augment: bool,
        root: str = "",
        download: bool = False,
        crop_padding: NonNegativeInt = 4,
        flip: bool = True,
        autoaugment: bool = False,
        cutout: NonNegativeInt = 0,
    ) -> DatasetSplit:
        """{title} through torchvision's reader, which checks every file's md5; images [3, 32, 32].

        Args:
            split: "train" or "test", the official split.
            augment: apply the augmentations below (the engine turns them on for the training split).
            root: the folder that holds {folder}/.
            download: let torchvision download the release into `root` when it is missing.
            crop_padding: pad by this many pixels, then crop a random 32×32; 0 = off.
            flip: mirror left-right with probability 1/2.
            autoaugment: apply torchvision's CIFAR-10 AutoAugment policy.
            cutout: zero one random square of this side in pixels; 0 = off.
        """
        return _cifar(kind, cls, folder, split, augment, root, download, crop_padding, flip, autoaugment, cutout)

    if build.__doc__:  # one text for both kinds; None under python -OO
        build.__doc__ = build.__doc__.format(title=title, folder=folder)
    build.__name__ = build.__qualname__ = kind
    INPUT_SHAPES.register(kind)(lambda **_: (3, 32, 32))
    return DATASETS.register(kind)(build)


cifar10 = _register_cifar("cifar10", datasets.CIFAR10, "cifar-10-batches-py", "CIFAR-10 (10 classes)")
cifar100 = _register_cifar("cifar100", datasets.CIFAR100, "cifar-100-python", "CIFAR-100 (100 classes)")


INPUT_SHAPES.register("imagefolder")(lambda image_size=224, **_: (3, image_size, image_size))


@DATASETS.register("imagefolder")
def imagefolder(
    split: Literal["train", "test"],
    augment: bool,
    root: str = "",
    image_size: Annotated[int, Ge(8)] = 224,
    flip: bool = True,
    autoaugment: bool = False,
    cutout: NonNegativeInt = 0,
) -> DatasetSplit:
    """ImageNet layout: root/train/<class>/<image> and root/val/<class>/<image> (the test split).

    Args:
        split: "train" (root/train) or "test" (root/val).
        augment: apply the augmentations below (the engine turns them on for the training split).
        root: the folder that holds train/ and val/, one subfolder per class in each.
        image_size: the side in pixels (≥ 8) of the square images: random-resized crops when
            augmenting, otherwise a resize to 256/224 of it and a centre crop.
        flip: mirror left-right with probability 1/2.
        autoaugment: apply torchvision's ImageNet AutoAugment policy.
        cutout: zero one random square of this side in pixels; 0 = off.
    """
    base = _root(root, "imagefolder", "train/<class>/ and val/<class>/")
    folder = base / ("train" if split == "train" else "val")
    require(
        folder.is_dir(), "root", f"{folder} is missing (ImageNet layout: {base}/train/<class>/…, {base}/val/<class>/…)"
    )
    transform = image_transform(
        train=augment,
        mean=IMAGENET_STATS[0],
        std=IMAGENET_STATS[1],
        crop=transforms.RandomResizedCrop(image_size),
        flip=flip,
        autoaugment=transforms.AutoAugmentPolicy.IMAGENET if autoaugment else None,
        cutout=cutout,
        eval_resize=[transforms.Resize(int(image_size * 256 / 224)), transforms.CenterCrop(image_size)],
    )
    try:
        dataset = datasets.ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, RuntimeError) as error:
        raise CfsnnError("root", f"{folder}: {error}") from None
    if split == "test":
        train_classes = (
            sorted(p.name for p in (base / "train").iterdir() if p.is_dir()) if (base / "train").is_dir() else None
        )
        require(
            train_classes in (None, dataset.classes), "root", f"{folder} has other class folders than {base / 'train'}"
        )
    return DatasetSplit(
        dataset=dataset,
        num_classes=len(dataset.classes),
        input_shape=(3, image_size, image_size),
        class_names=list(dataset.classes),
    )
