"""Tests for caelib.data: offline datasets, synthetic lesions and their masks, folders, helpers."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from caelib.data import (
    DATASETS,
    ImageDataset,
    brightest_pixel_hit_rate,
    check_images,
    generate_lesions,
    load_dataset,
    to_display,
)

LESIONS = ("lesions", "lesions-kinds", "lesions-two", "lesions-shortcut")


def hashes(ds: ImageDataset) -> set[str]:
    return {hashlib.sha1(x.numpy().tobytes()).hexdigest() for x in ds.images}


def assert_valid(ds: ImageDataset, shape: tuple[int, int, int]) -> None:
    assert ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
    assert ds.image_shape == shape and ds.images.shape == (len(ds), *shape)
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    assert ds.labels.min() >= 0 and ds.labels.max() < ds.num_classes


# ------------------------------------------------------------------------------------------ lesions
@pytest.mark.parametrize("name", LESIONS)
def test_lesions_format_balance_and_determinism(name: str) -> None:
    ds = load_dataset(name, n=400, seed=3)
    assert_valid(ds, (1, 32, 32))
    counts = torch.bincount(ds.labels, minlength=ds.num_classes)
    assert counts.tolist() == [400 // ds.num_classes] * ds.num_classes
    assert set(torch.unique(ds.masks).tolist()) <= {0.0, 1.0}
    has_mask = ds.masks.flatten(1).amax(1) > 0
    assert torch.equal(has_mask, ds.labels > 0)  # normals: empty mask; lesion classes: non-empty
    again = load_dataset(name, n=400, seed=3)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.masks, again.masks)
    assert not torch.equal(ds.images, load_dataset(name, n=400, seed=4).images)
    item = ds[0]
    assert set(item) == {"image", "label", "mask"} and item["image"].shape == (1, 32, 32)


@pytest.mark.parametrize("name", LESIONS)
def test_masks_cover_exactly_the_lesions(name: str) -> None:
    with_lesions = generate_lesions(300, variant=name, seed=1)
    without = generate_lesions(300, variant=name, seed=1, draw_lesions=False)
    diff = np.abs(with_lesions["images"] - without["images"])
    mask = with_lesions["masks"] > 0
    assert np.array_equal(with_lesions["labels"], without["labels"])
    assert diff[~mask].max() == 0  # the lesion changes nothing outside its mask
    lesion = with_lesions["labels"] > 0
    assert (diff[lesion].reshape(lesion.sum(), -1).max(1) > 0.2).all()  # every lesion is visible
    assert (diff[mask] > 0.01).mean() > 0.7  # and the mask is (mostly) changed pixels, not padding
    assert diff[~lesion].max() == 0


def test_train_and_test_differ() -> None:
    train, test = load_dataset("lesions", "train", n=300), load_dataset("lesions", "test", n=300)
    assert not hashes(train) & hashes(test)
    assert len(load_dataset("lesions", "test")) == 1000


@pytest.mark.parametrize("name", ["lesions", "lesions-kinds", "lesions-two"])
def test_brightest_pixel_rarely_finds_the_lesion(name: str) -> None:
    rate = brightest_pixel_hit_rate(load_dataset(name, n=800))
    assert 0.0 < rate < 0.5


def test_shortcut_marker_correlates_in_train_only() -> None:
    agree = {}
    for split in ("train", "test"):
        ds = load_dataset("lesions-shortcut", split, n=1000)
        present = ds.marker_masks.flatten(1).amax(1) > 0
        assert ds.marker_masks.shape == (1000, 1, 32, 32)
        assert not (ds.marker_masks * ds.masks).any()  # the marker never covers the lesion mask
        agree[split] = (present == (ds.labels == 1)).float().mean().item()
    assert agree["train"] == 1.0 and abs(agree["test"] - 0.5) < 0.08


def test_lesions_two_has_two_disjoint_lesions() -> None:
    ds = load_dataset("lesions-two", n=400)
    lm = ds.lesion_masks
    assert lm.shape == (400, 2, 32, 32)
    sick = ds.labels == 1
    assert (lm[sick].flatten(2).amax(2) > 0).all()
    assert not (lm[:, 0] * lm[:, 1]).any()
    assert not lm[~sick].any()
    assert torch.equal(lm.amax(1, keepdim=True), ds.masks)
    sub = ds.subset([0, 5, 7])
    assert torch.equal(sub.lesion_masks, lm[[0, 5, 7]])


def test_lesions_kinds_classes_and_relabelling() -> None:
    ds = load_dataset("lesions-kinds", n=100, classes=(3, 1))
    assert ds.class_names == ("dark", "round") and ds.num_classes == 2
    assert torch.bincount(ds.labels).tolist() == [50, 50]
    assert load_dataset("lesions-kinds", n=40).class_names == ("normal", "round", "ring", "dark")


def test_image_dataset_container() -> None:
    images = torch.linspace(-1, 1, 6 * 16).reshape(6, 1, 4, 4)
    ds = ImageDataset(images, torch.tensor([0, 1, 0, 1, 0, 1]), class_names=("a", "b"), name="toy",
                      marker_masks=torch.zeros(6, 1, 4, 4))
    assert len(ds) == 6 and ds.num_classes == 2 and ds.image_shape == (1, 4, 4) and set(ds[1]) == {"image", "label"}
    sub = ds.subset(ds.labels == 1)  # a boolean mask or indices
    assert torch.equal(sub.images, images[[1, 3, 5]]) and sub.marker_masks.shape == (3, 1, 4, 4)
    assert "b': 3" in repr(sub)
    with pytest.raises(ValueError, match="labels"):
        ImageDataset(images, torch.zeros(5, dtype=torch.long), class_names=("a",))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ImageDataset(images * 3, torch.zeros(6, dtype=torch.long), class_names=("a",))


# ------------------------------------------------------------------------------------------ real digits
def test_mnist_split_format_and_disjointness() -> None:
    train, test = load_dataset("mnist"), load_dataset("mnist", "test")
    assert_valid(train, (1, 32, 32))
    assert len(train) == 4000 and len(test) == 1000 and train.masks is None
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert (train.images[:, :, :2] == -1).all() and (train.images[:, :, :, -2:] == -1).all()  # padding
    assert train.images.max() == 1
    assert not hashes(train) & hashes(test)
    assert "mask" not in train[0]
    assert torch.equal(train.images, load_dataset("mnist").images)
    assert not hashes(test) == hashes(load_dataset("mnist", "test", seed=1))


def test_mnist_classes_and_n() -> None:
    full = load_dataset("mnist", "test")
    ds = load_dataset("mnist", "test", classes=(8, 3))
    assert ds.class_names == ("8", "3") and len(ds) == 200
    assert torch.equal(ds.images[ds.labels == 0], full.images[full.labels == 8])
    small = load_dataset("mnist", n=50)
    assert len(small) == 50 and torch.bincount(small.labels).tolist() == [5] * 10


def test_digits() -> None:
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    assert_valid(train, (1, 32, 32))
    assert len(train) + len(test) == 1797 and abs(len(test) - 0.2 * 1797) < 10
    frac = torch.bincount(test.labels) / (torch.bincount(test.labels) + torch.bincount(train.labels))
    assert ((frac - 0.2).abs() < 0.02).all()
    assert not hashes(train) & hashes(test)


# ------------------------------------------------------------------------------------------ errors
def test_unknown_name_split_and_label() -> None:
    with pytest.raises(ValueError, match="known datasets:.*lesions"):
        load_dataset("lesionz")
    with pytest.raises(ValueError, match="valid splits: train, test"):
        load_dataset("lesions", "val")
    with pytest.raises(ValueError, match=r"valid labels are \[0, 1\]"):
        load_dataset("lesions", classes=(0, 2), n=10)
    with pytest.raises(ValueError, match="valid labels"):
        load_dataset("mnist", classes=(3, 10))
    assert "folder" in DATASETS and "torchvision/CIFAR10" in DATASETS


def test_check_images_and_to_display() -> None:
    good = torch.zeros(4, 1, 32, 32)
    assert check_images(good, channels=1, image_size=32) is good
    cases = [
        (torch.zeros(4, 3, 64, 64), r"\(B, 1, 32, 32\).*got \(4, 3, 64, 64\)"),
        (torch.zeros(1, 32, 32), "unsqueeze"),
        (torch.zeros(4, 1, 32, 32, dtype=torch.uint8), "float"),
        (np.zeros((4, 1, 32, 32)), "ndarray"),
        (torch.full((4, 1, 32, 32), float("nan")), "NaN"),
        (torch.full((4, 1, 32, 32), 2.0), r"values in \[2, 2\]"),
    ]
    for x, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            check_images(x, channels=1, image_size=32)
    with pytest.raises(ValueError, match="channel"):
        check_images(torch.zeros(4, 3, 32, 32), channels=1)
    check_images(torch.full((1, 1, 8, 8), 1.0005))  # within the tolerance
    shown = to_display(torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]))
    assert shown.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


# ------------------------------------------------------------------------------------------ folders
def write_images(folder: Path, count: int, *, mode: str = "RGB", size: tuple[int, int] = (40, 48),
                 seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"img{i:02d}.png")


def test_folder_class_per_folder_rgb(tmp_path: Path) -> None:
    write_images(tmp_path / "cats", 10, seed=1)
    write_images(tmp_path / "dogs", 5, seed=2)
    (tmp_path / "notes.txt").write_text("ignored")
    train = load_dataset("folder", root=tmp_path, image_size=16)
    test = load_dataset("folder", "test", root=tmp_path, image_size=16)
    assert_valid(train, (3, 16, 16))
    assert train.class_names == ("cats", "dogs")
    assert torch.bincount(train.labels).tolist() == [8, 4] and torch.bincount(test.labels).tolist() == [2, 1]
    assert not hashes(train) & hashes(test)
    gray = load_dataset("folder", root=tmp_path, image_size=16, channels=1)
    assert gray.image_shape == (1, 16, 16)


def test_folder_grayscale_train_test_and_ab_layouts(tmp_path: Path) -> None:
    for split, count in (("train", 4), ("test", 2)):
        for cls in ("a", "b", "c"):
            write_images(tmp_path / "tt" / split / cls, count, mode="L", size=(32, 32))
    ds = load_dataset("folder", "test", root=tmp_path / "tt", image_size=None)
    assert_valid(ds, (1, 32, 32))
    assert len(ds) == 6 and ds.class_names == ("a", "b", "c")
    raw = np.asarray(Image.open(tmp_path / "tt" / "test" / "a" / "img00.png"), dtype=np.float32)
    assert torch.allclose(ds.images[0, 0], torch.from_numpy(raw / 127.5 - 1))

    for part, count in (("trainA", 3), ("trainB", 4), ("testA", 1), ("testB", 2)):
        write_images(tmp_path / "ab" / part, count, mode="L", size=(20, 20))
    ab = load_dataset("folder", root=tmp_path / "ab", image_size=8)
    assert ab.class_names == ("A", "B") and torch.bincount(ab.labels).tolist() == [3, 4]
    assert len(load_dataset("folder", "test", root=tmp_path / "ab", image_size=8)) == 3


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_dataset("folder", root=tmp_path / "missing")
    write_images(tmp_path / "one" / "only", 3)
    with pytest.raises(ValueError, match=">= 2 classes"):
        load_dataset("folder", root=tmp_path / "one")
    write_images(tmp_path / "empty" / "full", 3)
    (tmp_path / "empty" / "void").mkdir()
    with pytest.raises(ValueError, match="void"):
        load_dataset("folder", root=tmp_path / "empty")
    write_images(tmp_path / "mixed" / "x", 5, size=(32, 32))
    write_images(tmp_path / "mixed" / "y", 5, size=(24, 24))
    with pytest.raises(ValueError, match="image_size="):
        load_dataset("folder", root=tmp_path / "mixed", image_size=None)
    assert load_dataset("folder", root=tmp_path / "mixed", image_size=12).image_shape == (3, 12, 12)

    write_images(tmp_path / "bad" / "x", 5)
    write_images(tmp_path / "bad" / "y", 5)
    (tmp_path / "bad" / "y" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png.*skip_unreadable=True"):
        for split in ("train", "test"):  # the broken file lands in one of the splits
            load_dataset("folder", split, root=tmp_path / "bad")
    with pytest.warns(UserWarning, match="broken.png"):
        sizes = [len(load_dataset("folder", s, root=tmp_path / "bad", skip_unreadable=True))
                 for s in ("train", "test")]
    assert sum(sizes) == 10


# ------------------------------------------------------------------------------------------ torchvision
def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("cls", ["MNIST", "FashionMNIST"])
def test_torchvision_mnist_offline(tmp_path: Path, cls: str) -> None:
    raw = tmp_path / cls / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 20), ("t10k", 10)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)
    ds = load_dataset(f"torchvision/{cls}", "test", root=tmp_path)
    assert_valid(ds, (1, 32, 32))
    assert len(ds) == 10 and ds.labels.tolist() == list(range(10)) and ds.num_classes == 10
    assert (ds.images[:, :, :2] == -1).all()
    assert len(load_dataset(f"torchvision/{cls}", root=tmp_path, classes=(1, 2))) == 4


def test_torchvision_missing_files_say_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("torchvision/CIFAR10", root=tmp_path)


# ------------------------------------------------------------------------------------------ stratified samples
def test_stratified_indices_sample_every_class_in_every_prefix() -> None:
    from caelib.data import stratified_indices

    labels = np.repeat([0, 1, 2], [50, 30, 4])            # sorted by class, as an image folder is
    idx = stratified_indices(labels, 30, seed=1)
    assert len(idx) == len(set(idx.tolist())) == 30
    assert np.bincount(labels[idx]).tolist() == [13, 13, 4]   # the small class gives all it has, others fill up
    assert np.bincount(labels[idx[:9]]).tolist() == [3, 3, 3]  # every prefix is balanced too
    assert np.array_equal(idx, stratified_indices(torch.as_tensor(labels), 30, seed=1))   # seeded
    assert not np.array_equal(idx, stratified_indices(labels, 30, seed=2))
    assert sorted(stratified_indices(labels, None, seed=0).tolist()) == list(range(84))
    ds = ImageDataset(torch.zeros(84, 1, 4, 4), torch.as_tensor(labels), class_names=("a", "b", "c"))
    sample = ds.sample(6, seed=0)
    assert sample.labels.tolist().count(2) == 2 and len(sample) == 6 and ds.sample(None) is ds and ds.sample(84) is ds
    assert ds.labels[:6].tolist() == [0] * 6                  # what "the first n" would have measured


# ------------------------------------------------------------------------------------------ fashion-mnist
FASHION = Path("/usr/share/datasets/fashion-mnist")


def write_fashion(root: Path, counts: dict[str, int]) -> None:
    """Tiny Fashion-MNIST look-alikes (gzipped idx, labels sorted by class) under ``root``."""
    import gzip

    root.mkdir(parents=True, exist_ok=True)
    for prefix, count in counts.items():
        labels = np.sort(np.arange(count) % 10)
        images = np.zeros((count, 28, 28), np.uint8) + (labels * 20)[:, None, None].astype(np.uint8)
        for name, array in ((f"{prefix}-images-idx3-ubyte.gz", images), (f"{prefix}-labels-idx1-ubyte.gz", labels)):
            header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
            (root / name).write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_fashion_mnist_reads_idx_files_pads_and_samples_across_classes(tmp_path: Path) -> None:
    from caelib.data import FASHION_MNIST_CLASSES

    write_fashion(tmp_path, {"train": 200, "t10k": 100})
    test = load_dataset("fashion-mnist", "test", root=tmp_path)
    assert_valid(test, (1, 32, 32))
    assert len(test) == 100 and test.class_names == FASHION_MNIST_CLASSES and test.class_names[6] == "Shirt"
    assert (test.images[:, :, :2] == -1).all() and (test.images[:, :, :, -2:] == -1).all()   # 28 px padded to 32
    inner = ((test.images[:, 0, 2:30, 2:30] + 1) * 127.5).round()
    assert torch.equal(inner.flatten(1).amax(1), (test.labels * 20).float())           # pixels follow the labels
    small = load_dataset("fashion-mnist", "train", root=tmp_path, n=30, seed=0)
    assert torch.bincount(small.labels).tolist() == [3] * 10                         # not the first 30 (class 0, 1)
    assert torch.equal(small.images, load_dataset("fashion-mnist", "train", root=tmp_path, n=30, seed=0).images)
    pair = load_dataset("fashion-mnist", "train", root=tmp_path, classes=("Shirt", "T-shirt/top"), n=10)
    assert pair.class_names == ("Shirt", "T-shirt/top") and torch.bincount(pair.labels).tolist() == [5, 5]
    assert torch.equal(((pair.images[:, 0, 16, 16] + 1) * 127.5).round(), torch.where(pair.labels == 0, 120., 0.))
    alias = load_dataset("fashion-mnist-shirts", "train", root=tmp_path, n=10)
    assert alias.name == "fashion-mnist-shirts" and torch.equal(alias.images, pair.images)
    assert load_dataset("fashion-mnist-tops", "test", root=tmp_path).num_classes == 4
    with pytest.raises(ValueError, match="unknown class 'shirt'"):
        load_dataset("fashion-mnist", root=tmp_path, classes=("shirt", "Bag"))
    with pytest.raises(ValueError, match="pass classes= to load_dataset"):
        load_dataset("fashion-mnist-shirts", root=tmp_path, classes=(0, 1))


def test_fashion_mnist_missing_files_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path / "nothing-here")


def test_fashion_mnist_from_debian_package() -> None:
    """The real files of Debian's dataset-fashion-mnist (bash .ci/setup installs it)."""
    if not (FASHION / "t10k-images-idx3-ubyte.gz").is_file():
        reason = f"Fashion-MNIST not installed in {FASHION} (apt-get install -y dataset-fashion-mnist as root)"
        if os.environ.get("CAELIB_CI") == "1":
            pytest.fail(f"the fashion-mnist tests cannot run in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    test = load_dataset("fashion-mnist", "test")
    assert_valid(test, (1, 32, 32))
    assert len(test) == 10_000 and torch.bincount(test.labels).tolist() == [1000] * 10
    train = load_dataset("fashion-mnist", "train", n=500, seed=0)     # the size of many medical sets
    assert torch.bincount(train.labels).tolist() == [50] * 10
    assert not hashes(train) & hashes(test)
    assert not torch.equal(train.images, load_dataset("fashion-mnist", "train", n=500, seed=1).images)
    for name, k in (("fashion-mnist-shirts", 2), ("fashion-mnist-tops", 4)):
        ds = load_dataset(name, "train", n=100)
        assert ds.num_classes == k and torch.bincount(ds.labels).tolist() == [100 // k] * k
    shirts = load_dataset("fashion-mnist-shirts", "test")
    assert shirts.class_names == ("Shirt", "T-shirt/top") and len(shirts) == 2000
    assert float(shirts.images[:, :, :2].max()) == -1.0                          # padded like mnist
