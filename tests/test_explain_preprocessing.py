"""``explain`` reuses the preprocessing a CAE checkpoint records (image size, channels, ``--upscale``), and
``train-classifier`` warns when its black box is no better than always answering the majority class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from caelib.checkpoints import load_checkpoint
from caelib.cli import main

TINY = ["--width", "4", "--batch-size", "4", "--quiet"]
RULE = '''import torch
from caelib import as_black_box


class Brightness(torch.nn.Module):
    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([10 * m, -10 * m], 1)   # class 0 "bright", class 1 "dark"


def load():
    return as_black_box(Brightness(), num_classes=2)
'''


def write_folder(root: Path, size: int, count: int = 6, same: bool = False) -> None:
    """Class folders ``bright`` and ``dark`` of ``size`` x ``size`` grey PNGs (``same``: identical images)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("bright", "dark")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            level = 0 if same else 150 * (1 - k)
            pixels = np.full((size, size), 60, np.uint8) if same else rng.integers(0, 80, (size, size)) + level
            Image.fromarray(pixels.astype(np.uint8), "L").save(root / name / f"{i:03d}.png")


def test_explain_takes_small_images_for_a_cae_trained_with_upscale(tmp_path: Path, capsys) -> None:
    write_folder(tmp_path / "small", 16)
    (tmp_path / "rule.py").write_text(RULE)
    cae = tmp_path / "cae.pt"
    assert main(["train-cae", "--folder", str(tmp_path / "small"), "--image-size", "32", "--upscale", "--steps", "2",
                 "--out", str(cae), *TINY]) == 0
    assert load_checkpoint(cae, kind="cae")["meta"]["data"]["upscale"] is True
    capsys.readouterr()
    image = tmp_path / "small" / "dark" / "000.png"          # 16x16, as in training
    code = main(["explain", str(image), "--cae", str(cae), "--classifier", f"{tmp_path / 'rule.py'}:load",
                 "--out", str(tmp_path / "ex"), "--steps", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err                                     # was: "smaller than the model's 32x32", exit code 2
    assert "trained with --upscale" in err and (tmp_path / "ex" / "000.explained.png").is_file()
    # the reference folder given on the command line gets the CAE's size and --upscale too
    code = main(["explain", str(image), "--cae", str(cae), "--classifier", f"{tmp_path / 'rule.py'}:load",
                 "--out", str(tmp_path / "ex2"), "--steps", "3", "--folder", str(tmp_path / "small"), "--quiet"])
    assert code == 0, capsys.readouterr().err


def test_train_classifier_warns_at_the_majority_rate(tmp_path: Path, capsys) -> None:
    write_folder(tmp_path / "same", 8, count=10, same=True)   # both classes look alike: nothing to learn
    out = tmp_path / "clf.pt"
    code = main(["train-classifier", "--folder", str(tmp_path / "same"), "--image-size", "8", "--epochs", "1",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and out.is_file()
    assert "warning: test accuracy 0.500 is not above the majority-class rate 0.500" in err
    assert "--epochs 40" in err and "--augment 4" in err
