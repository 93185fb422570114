"""Checks for the exercises of notebook 10 (your own data and classifier)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import torch

from . import WrongAnswer, exercise
from ._common import close, data, demo, pair, swapped

_KEEP: list[tempfile.TemporaryDirectory] = []


@functools.lru_cache(maxsize=None)
def _folders() -> Path:
    """A small image folder in both layouts (class sub-folders under train/ and test/; trainA/trainB/...)."""
    from ..data import save_image_folder

    work = tempfile.TemporaryDirectory(prefix="caelib-exercise-10-")  # deleted when Python exits
    _KEEP.append(work)
    root = Path(work.name)
    made_train, made_test = data("lesions", "train", 16), data("lesions", "test", 8)
    save_image_folder(made_train, root / "sub" / "train")
    save_image_folder(made_test, root / "sub" / "test")
    save_image_folder(made_train, root / "ab", folder_names=("trainA", "trainB"))
    save_image_folder(made_test, root / "ab", folder_names=("testA", "testB"))
    return root


def _load(root):
    from ..data import load_dataset

    return load_dataset("folder", "train", root=root, image_size=32)


@exercise("10.1", "The training split of the A/B layout (trainA, trainB, testA, testB) read back.",
          demo_right=lambda: (_load(_folders() / "ab"), {"made_train": data("lesions", "train", 16)}),
          demo_wrong=lambda: (_load(_folders() / "sub"), {"made_train": data("lesions", "train", 16)}))
def check_ab(answer, *, made_train):
    for attr in ("class_names", "images", "labels"):
        if not hasattr(answer, attr):
            raise WrongAnswer("ab should be the dataset caelib.load_dataset('folder', 'train', root=...) returns")
    if tuple(answer.class_names) != ("A", "B"):
        raise WrongAnswer(f"the classes are {tuple(answer.class_names)}: the A/B layout names them A and B "
                          "(folder_names=('trainA', 'trainB') for the training split)")
    if len(answer) != len(made_train):
        raise WrongAnswer(f"ab has {len(answer)} images, made_train has {len(made_train)}: load the training "
                          "split of the new folder, with all the images")
    if not torch.equal(torch.bincount(answer.labels, minlength=2), torch.bincount(made_train.labels, minlength=2)):
        raise WrongAnswer("the images per class differ from made_train's: trainA should hold class 0, trainB class 1")
    got = answer.images.flatten(1).mean(1).sort().values
    want = made_train.images.flatten(1).mean(1).sort().values
    close(got, want, "the images' mean brightness", atol=0.02, rtol=0,
          hint="ab should hold made_train's images (written as PNG and read back)")


def _forgetful(x):
    import torch.nn.functional as F

    return F.interpolate(((x + 1) / 2).repeat(1, 3, 1, 1), size=48, mode="bilinear", align_corners=False)


def _agreements(model, images, own, decisions):
    from ..classifier import as_black_box, predict_proba

    wrong = as_black_box(model, num_classes=int(max(own.max(), decisions.max())) + 1, preprocess=_forgetful).eval()
    with torch.no_grad():
        agree_wrong = float((predict_proba(wrong, images).argmax(1) == own).float().mean())
    return agree_wrong, float((decisions == own).float().mean())


@functools.lru_cache(maxsize=None)
def _ctx_cached():
    import torch.nn.functional as F

    from ..classifier import as_black_box, predict_proba

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 11 * 11, 2)).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def preprocess(x):
        x = F.interpolate(((x + 1) / 2).repeat(1, 3, 1, 1), size=48, mode="bilinear", align_corners=False)
        return (x - mean) / std

    images = data("lesions", "test", 60).images
    with torch.no_grad():
        own = model(preprocess(images)).argmax(1)
        decisions = predict_proba(as_black_box(model, num_classes=2, preprocess=preprocess).eval(), images).argmax(1)
    return {"model": model, "images": images, "own": own, "decisions": decisions}


def _ctx_agree():
    return dict(_ctx_cached())


@exercise("10.2", "Agreement with your own pipeline: the wrapping that forgets the normalisation, and the correct one.",
          demo_right=demo(_agreements, _ctx_agree), demo_wrong=demo(_agreements, _ctx_agree, swapped))
def check_agreements(answer, *, model, images, own, decisions):
    agree_wrong, agree_right = pair(answer, "agree_wrong, agree_right")
    truth_wrong, truth_right = _agreements(model, images, own, decisions)
    close(agree_right, truth_right, "agree_right", atol=1e-6, hint="the share of test images on which the "
          "correct wrapping's decisions equal own")
    close(agree_wrong, truth_wrong, "agree_wrong", atol=0.03, rtol=0, hint="wrap the ResNet with a preprocess that "
          "maps [-1, 1] grey to [0, 1] RGB and resizes to 48 pixels, without (x - mean) / std, and compare its "
          "decisions with own")


def _message(root):
    from ..data import load_dataset

    try:
        load_dataset("folder", "train", root=root, image_size=64, upscale=False)
    except ValueError as err:
        return str(err)
    raise WrongAnswer(f"{root} holds images of 64 pixels or more: this exercise needs the notebook's 32-pixel ROOT")


def _ctx_message():
    return {"root": _folders() / "sub"}


def _wrong_message():
    from ..data import load_dataset

    try:
        load_dataset("folder", "train", root=_folders() / "missing", image_size=64)
    except (ValueError, FileNotFoundError) as err:
        return str(err), _ctx_message()                                    # another error's message
    raise AssertionError("expected an error")


@exercise("10.3", "The error message for images smaller than the size asked for, without upscale.",
          demo_right=demo(_message, _ctx_message), demo_wrong=_wrong_message)
def check_message(answer, *, root):
    if not isinstance(answer, str):
        raise WrongAnswer("message should be the error's text: str(err)")
    truth = _message(root)
    if answer.strip() != truth.strip():
        raise WrongAnswer("that is not the message of the error load_dataset raises for too small images: ask for "
                          "image_size=64 with upscale=False on ROOT and keep str(err)")
