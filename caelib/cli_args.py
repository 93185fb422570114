"""What the command line (``caelib.cli``) reads and checks before a command runs: argument value types, outputs
that must be writable, the data arguments and their data, and the black box given as ``--classifier``. Bad input
raises :class:`UsageError` (one line, exit code 2).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

import torch

PROG = "caelib"
EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad input from the command line: reported as one line and exit code 2."""


def log(*parts: Any) -> None:
    """Human-readable progress goes to stderr, so that stdout stays machine-readable (``--json``)."""
    from . import distributed

    if distributed.is_main():
        print(*parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- argument value checks


def _number(convert: Callable[[str], Any], allowed: Callable[[Any], bool], rule: str, name: str):
    """An argparse ``type``: ``convert(text)`` when ``allowed`` holds for it; anything else is argparse's usage
    error (exit 2) with one line, ``rule`` (what is allowed) and the text given."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not allowed(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


def whole(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``minimum``."""
    return _number(int, lambda v: v >= minimum, f"must be a whole number >= {minimum}", f"whole number >= {minimum}")


positive = _number(float, lambda v: 0 < v < float("inf"), "must be a number > 0", "number > 0")  # a learning rate
non_negative = _number(float, lambda v: 0 <= v < float("inf"), "must be a number >= 0", "number >= 0")  # a weight
image_size = _number(int, lambda v: v >= 4 and v % 4 == 0, "image size must be a positive multiple of 4 (e.g. 32)",
                     "image size")


def check_writable(path: Path, flag: str, *, folder: bool = False) -> None:
    """Raise ``UsageError`` unless ``path`` (a file, or with ``folder`` a folder) can be written, before any
    work starts: the nearest existing folder on its way must be a folder this process can write into."""
    path = Path(path).expanduser()
    if not folder and path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; {flag} needs a file name")
    if folder and path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file; {flag} needs a folder")
    start = path if folder else path.parent
    where = start.absolute()
    while not where.exists():
        where = where.parent
    if not where.is_dir():
        raise UsageError(f"{flag} {path} cannot be created: {where} is a file, not a folder; pass another {flag}")
    import tempfile

    try:   # os.access says yes to root on a read-only file system: try it
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {path} cannot be written ({err.strerror or type(err).__name__} in {where}); "
                         f"pass a {flag} in a folder you can write to") from None


# ---------------------------------------------------------------------------------------------- data


def add_data_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = p.add_argument_group("data (a built-in dataset or a folder of your images)")
    src = g.add_mutually_exclusive_group(required=required)
    src.add_argument("--dataset", help="a built-in dataset: lesions, lesions-kinds, mnist, digits, "
                     "fashion-mnist (10 classes; fashion-mnist-shirts: Shirt vs T-shirt/top), ...")
    src.add_argument("--folder", type=Path, help="a folder of images: one sub-folder per class (optionally under "
                     "train/ and test/), or the trainA/trainB/testA/testB layout")
    g.add_argument("--image-size", type=image_size, default=32, help="folders: images are resized (shorter side) "
                   "and centre-cropped to this size, a positive multiple of 4 (default 32)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="folders: 1 grey or 3 RGB (default: grey unless "
                   "some image has colour)")
    g.add_argument("--max-images", type=whole(1), help="use at most this many training images (class-balanced)")
    g.add_argument("--skip-unreadable", action="store_true", help="skip images that cannot be read (default: stop)")
    g.add_argument("--upscale", action="store_true", help="enlarge images smaller than --image-size (default: stop)")


def data_source(args: argparse.Namespace) -> dict[str, Any]:
    """Where the data comes from, as plain values (stored in checkpoints, so that ``explain`` finds it)."""
    if args.folder is not None:
        return {"dataset": "folder", "root": str(Path(args.folder).expanduser().resolve()),
                "image_size": args.image_size, "channels": args.channels, "upscale": args.upscale,
                "skip_unreadable": args.skip_unreadable}
    if args.channels is not None or args.image_size != 32:
        raise UsageError("--image-size and --channels apply to --folder; the built-in datasets are 32x32 "
                         "(lesions and mnist grey)")
    return {"dataset": args.dataset}


def load_data(source: dict[str, Any], split: str, n: int | None = None):
    """Load the ``split`` of a data source from :func:`data_source`."""
    from .data import load_dataset

    kw = {k: v for k, v in source.items() if k != "dataset"}
    if "root" in kw and not Path(kw["root"]).is_dir():
        raise UsageError(f"image folder {kw['root']} does not exist; pass --folder with the folder of your images")
    try:
        return load_dataset(source["dataset"], split, n=n, **kw)
    except ValueError as err:   # the library's hint names its argument; here the flag that sets it
        if "skip_unreadable=True" not in str(err):
            raise
        raise type(err)(str(err).replace("skip_unreadable=True", "--skip-unreadable")) from err


# ------------------------------------------------------------------------------------------- models


def load_black_box(spec: str) -> torch.nn.Module:
    """A black box from the command line: a classifier checkpoint written by ``train-classifier`` (or a shipped
    one), or ``FILE.py:FUNCTION`` / ``package.module:FUNCTION``, a function without arguments that returns
    your model, best wrapped with ``caelib.as_black_box(model, num_classes=K, preprocess=...)``."""
    from .classifier import as_black_box, load_classifier

    path = Path(spec).expanduser()
    if path.is_file():
        return as_black_box(load_classifier(path)).eval()
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UsageError(f"--classifier {spec!r}: no such file; pass a classifier checkpoint (.pt) or "
                         "FILE.py:FUNCTION / package.module:FUNCTION returning your model")
    if where.endswith(".py"):
        file = Path(where).expanduser()
        if not file.is_file():
            raise UsageError(f"--classifier {spec!r}: no Python file {file}")
        module_spec = importlib.util.spec_from_file_location(f"caelib_user_{file.stem}", file)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UsageError(f"--classifier {spec!r}: {where} has no function {name}")
    model = factory()
    if not callable(model):
        raise UsageError(f"--classifier {spec!r}: {name}() returned a {type(model).__name__}, not a model")
    model = as_black_box(model)
    return model.eval()
