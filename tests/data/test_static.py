"""Static datasets: the bundled digits, CIFAR through torchvision, ImageNet-style folders."""

from unittest import mock

import numpy as np
import pytest
import torch

from cfsnn_cli.data import DATASETS, TimeFirstCollate
from cfsnn_cli.data.digits import digits_arrays
from cfsnn_cli.errors import CfsnnError
from tests.data.fixtures import write_cifar10, write_image_folder


def test_digits_split_is_fixed_stratified_and_disjoint():
    train_x, train_y = digits_arrays("train")
    test_x, test_y = digits_arrays("test")
    assert (len(train_y), len(test_y)) == (1437, 360)
    assert np.array_equal(np.bincount(test_y), np.bincount(digits_arrays("test")[1]))  # same every time
    train_counts, test_counts = np.bincount(train_y), np.bincount(test_y)
    assert np.all(np.abs(test_counts / (train_counts + test_counts) - 0.2) < 0.02)  # stratified
    train_rows = {row.tobytes() for row in train_x}
    assert not any(row.tobytes() in train_rows for row in test_x)
    assert 0.0 <= train_x.min() and train_x.max() <= 1.0


def test_collate_repeats_static_inputs_over_time_without_copying():
    split = DATASETS.get("digits")("test")
    x_seq, labels = TimeFirstCollate(5, samples_are_sequences=False)([split.dataset[i] for i in range(3)])
    assert x_seq.shape == (5, 3, 1, 8, 8) and labels.tolist() == [int(split.dataset[i][1]) for i in range(3)]
    assert x_seq.stride(0) == 0  # a view: the image is stored once
    assert torch.equal(x_seq[0], x_seq[4])


def test_collate_transposes_sequences():
    samples = [(torch.full((4, 2), float(i)), i) for i in range(3)]
    x_seq, _ = TimeFirstCollate(4, samples_are_sequences=True)(samples)
    assert x_seq.shape == (4, 3, 2) and x_seq[0, 2, 0] == 2


@pytest.fixture
def fake_cifar_passes_md5():
    # the fake files cannot match the official md5s; real data keeps the check (see the next test)
    with mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True):
        yield


def test_cifar10_reads_the_release_layout(tmp_path, fake_cifar_passes_md5):
    root = write_cifar10(tmp_path)
    train = DATASETS.get("cifar10")("train", augment=True, root=str(root), flip=False, crop_padding=0)
    test = DATASETS.get("cifar10")("test", augment=False, root=str(root))
    assert (len(train.dataset), len(test.dataset)) == (20, 4)
    image, label = test.dataset[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= label < 10
    assert train.class_names[:3] == ["airplane", "automobile", "bird"] and train.num_classes == 10


def test_cifar_augmentations_apply_to_train_only(tmp_path, fake_cifar_passes_md5):
    root = write_cifar10(tmp_path)
    train = DATASETS.get("cifar10")("train", augment=True, root=str(root), cutout=16, autoaugment=True)
    names = [type(step).__name__ for step in train.dataset.transform.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "AutoAugment", "ToTensor", "Normalize", "Cutout"]
    test = DATASETS.get("cifar10")("test", augment=False, root=str(root), cutout=16, autoaugment=True)
    assert [type(step).__name__ for step in test.dataset.transform.transforms] == ["ToTensor", "Normalize"]
    assert (train.dataset[0][0] == 0).all(dim=0).sum() > 0  # cutout zeroed a square


def test_cifar_files_that_do_not_match_the_release_are_refused(tmp_path):
    root = write_cifar10(tmp_path)
    with pytest.raises(CfsnnError, match="does not match the official cifar10 release") as caught:
        DATASETS.get("cifar10")("train", augment=True, root=str(root))
    assert caught.value.field == "root"


@pytest.mark.parametrize("root", ["", "/nonexistent/cifar"])
def test_cifar_without_a_root_folder_is_one_clear_error(root):
    with pytest.raises(CfsnnError) as caught:
        DATASETS.get("cifar10")("train", augment=True, root=root)
    assert caught.value.field == "root"


def test_image_folder_reads_the_imagenet_layout(tmp_path):
    root = write_image_folder(tmp_path / "imagenet")
    train = DATASETS.get("imagefolder")("train", augment=True, root=str(root), image_size=32)
    test = DATASETS.get("imagefolder")("test", augment=False, root=str(root), image_size=32)
    assert train.class_names == test.class_names == ["n01440764", "n01443537"]
    assert train.dataset[0][0].shape == test.dataset[0][0].shape == (3, 32, 32)
    assert train.input_shape == (3, 32, 32)


def test_image_folder_without_val_is_one_clear_error(tmp_path):
    root = write_image_folder(tmp_path / "imagenet")
    for image in (root / "val").rglob("*.JPEG"):
        image.unlink()
    with pytest.raises(CfsnnError, match=r"root: .*val"):
        DATASETS.get("imagefolder")("test", augment=False, root=str(root))


def test_evaluating_the_training_split_does_not_augment(tmp_path, fake_cifar_passes_md5):
    from cfsnn_cli.engine.build import build_split
    from cfsnn_cli.recipe import load_recipe

    write_cifar10(tmp_path)
    recipe = load_recipe("cifar10", [f"data.root='{tmp_path}'"])
    training = build_split(recipe, "train").dataset.transform.transforms
    evaluating = build_split(recipe, "train", augment=False).dataset.transform.transforms
    assert len(training) > 2 and [type(t).__name__ for t in evaluating] == ["ToTensor", "Normalize"]
