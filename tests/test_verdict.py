"""The verdict at the end of CAE training (``caelib.swap.verdict``, ``TrainResult.verdict``, the table of
``python -m caelib train-cae``) and sampling across classes instead of "the first n" (a test folder sorted by
class made ``train-cae`` end with ``min() arg is an empty sequence`` after training)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import caelib
from caelib.cae import CAEConfig
from caelib.cli import main
from caelib.data import ImageDataset, load_dataset
from caelib.paths import CodeBank
from caelib.swap import VERDICT_BARS, Guard, quality_report, verdict
from caelib.train import TrainConfig, train_cae

TINY = ["--width", "4", "--batch-size", "4", "--quiet"]
RULE = '''import torch
from caelib import as_black_box


class Brightness(torch.nn.Module):
    """Dark images are class 0, bright ones class 1: a black box that is right on the sorted folder."""

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([-10 * m, 10 * m], 1)


def load():
    return as_black_box(Brightness(), num_classes=2)
'''


class Brightness(torch.nn.Module):
    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([-10 * m, 10 * m], 1)


def sorted_folder(root: Path, n_train: int = 12, n_test: int = 510) -> Path:
    """train/ and test/ with two classes of 8x8 PNGs; read back, the test split is sorted by class and its
    first 500 images are all of class 0."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n_train), ("test", n_test)):
        for k, name in enumerate(("a_dark", "b_bright")):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = (rng.integers(0, 80, (8, 8)) + 150 * k).astype(np.uint8)
                Image.fromarray(pixels, "L").save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return sorted_folder(tmp_path_factory.mktemp("sorted"))


def test_a_test_folder_sorted_by_class_gets_a_verdict_over_both_classes(folder: Path, tmp_path: Path,
                                                                         capsys) -> None:
    test = load_dataset("folder", "test", root=folder, image_size=8)
    assert test.labels[:500].unique().tolist() == [0]           # "the first 500" would be one class
    (tmp_path / "rule.py").write_text(RULE)
    out = tmp_path / "cae.pt"
    code = main(["train-cae", "--folder", str(folder), "--image-size", "8", "--steps", "2", "--out", str(out),
                 "--classifier", f"{tmp_path / 'rule.py'}:load", *TINY])
    err = capsys.readouterr().err
    assert code == 0, err                                       # was: error: min() arg is an empty sequence
    assert out.exists() and "min() arg" not in err
    assert "verdict on 500 test images (sampled across the classes)" in err
    table = err[err.index("verdict on"):]
    # the black box is right on every image of both classes: against a majority rate of 0.5 (not 1.0, as on
    # one class) it passes; 2 training steps do not make swaps flip, and the verdict says so
    assert re.search(r"black box beats the majority class +1\.000 +> 0\.500 +met\n", table)
    assert "swap flip rate, worst class pair (" in table and "NOT MET" in table
    assert "not met: swap flip rate" in table and "train longer" in table
    assert re.search(r"the CAE's code head reads the class of [01]\.\d{3}", table)
    last = err.strip().splitlines()[-1]
    assert last.endswith("of 5 guards not met") and int(last.split()[0]) >= 1


def test_train_cae_result_holds_the_verdict(folder: Path) -> None:
    train = load_dataset("folder", "train", root=folder, image_size=8)
    test = load_dataset("folder", "test", root=folder, image_size=8)
    cfg = CAEConfig(image_size=8, channels=1, num_classes=2, width=4)
    black_box = caelib.as_black_box(Brightness(), num_classes=2)
    result = train_cae(train, cfg, TrainConfig(steps=2, batch_size=4), test=test, classifier=black_box,
                       verdict_images=100, progress=False)
    v = result.verdict
    assert v is not None and v.n_images == 100 and v.report["majority_rate"] == 0.5
    assert [g.name for g in v.guards] == ["classifier_accuracy", "recon_accuracy", "flip_mean", "flip_worst",
                                          "class_code_effect"]
    assert v.classifier_accuracy == 1.0 and v.guards[0].met
    assert v.guards[1].bar == pytest.approx(v.classifier_accuracy - VERDICT_BARS["recon_accuracy_margin"])
    assert not v.met and v.failed and all(g.hint for g in v.failed)
    assert v.summary() == f"{len(v.failed)} of 5 guards not met" and str(v).endswith(v.summary())
    record = json.loads(json.dumps(v.as_dict()))
    assert record["met"] is False and len(record["guards"]) == 5
    assert train_cae(train, cfg, TrainConfig(steps=1, batch_size=4), progress=False).verdict is None


def test_a_good_cae_meets_every_guard() -> None:
    models = caelib.pretrained("lesions")
    test = load_dataset("lesions", "test", n=300)
    v = verdict(models.cae, models.classifier, test, n=200, class_names=("normal", "lesion"))
    assert v.met, str(v)
    assert v.summary() == "all 5 guards met" and "not met" not in v.table()
    # the code head reads the class about as well as the black box, and the reconstructions follow it
    assert v.report["code_accuracy"] >= v.classifier_accuracy - 0.05
    assert abs(v.report["code_accuracy"] - v.report["recon_accuracy"]) <= 0.05
    assert "worst class pair (normal -> lesion)" in v.table() or "worst class pair (lesion -> normal)" in v.table()


def test_guard_bars() -> None:
    assert Guard("x", "x", 0.9, ">=", 0.9, "").met and not Guard("x", "x", 0.5, ">", 0.5, "").met
    assert not Guard("x", "x", math.nan, ">=", 0.0, "").met


def sorted_dataset(n_per_class: int = 40) -> ImageDataset:
    """Two classes, sorted by class: dark images first, then bright ones (8x8)."""
    g = torch.Generator().manual_seed(0)
    dark = torch.rand(n_per_class, 1, 8, 8, generator=g) * 0.3 - 0.9
    return ImageDataset(torch.cat([dark, -dark]), torch.arange(2).repeat_interleave(n_per_class),
                        class_names=("dark", "bright"))


def test_quality_report_and_code_bank_sample_across_classes() -> None:
    ds = sorted_dataset()
    cae = caelib.CAE(CAEConfig(image_size=8, channels=1, num_classes=2, width=4)).eval()
    black_box = caelib.as_black_box(Brightness(), num_classes=2)
    q = quality_report(cae, black_box, ds, n=20)                # the first 20 are all dark
    assert set(q["flip_per_pair"]) == {"0->1", "1->0"} and all(map(math.isfinite, q["flip_per_pair"].values()))
    bank = CodeBank.from_images(cae, ds.images, ds.labels, n=10)
    assert torch.bincount(bank.labels).tolist() == [5, 5]
    assert torch.bincount(CodeBank.from_images(cae, ds.images, ds.labels, classifier=black_box, n=10).labels,
                          minlength=2).tolist() == [5, 5]


def test_the_reconstruction_report_gives_the_code_heads_accuracy() -> None:
    from caelib.cae import CAE
    from caelib.swap_quality import QUALITY_MEANINGS, reconstruction_report

    torch.manual_seed(0)
    cae = CAE(CAEConfig(image_size=8, channels=1, num_classes=3, width=4)).eval()
    x, y = torch.rand(30, 1, 8, 8) * 2 - 1, torch.tensor([0] * 12 + [1] * 10 + [2] * 8)
    with torch.no_grad():   # a code head that always reads class 1
        cae.code_head.weight.zero_()
        cae.code_head.bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
    black_box = caelib.as_black_box(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)), num_classes=3)
    rep = reconstruction_report(cae, black_box, x, y)
    assert rep["code_accuracy"] == 10 / 30 and "code_accuracy" in QUALITY_MEANINGS


def test_the_reconstruction_hint_says_whether_the_class_code_or_the_decoder_falls_short(folder: Path,
                                                                                        monkeypatch) -> None:
    from caelib import verdict as verdict_module

    test = load_dataset("folder", "test", root=folder, image_size=8)
    torch.manual_seed(0)
    cae = caelib.CAE(CAEConfig(image_size=8, channels=1, num_classes=2, width=4)).eval()
    with torch.no_grad():   # a code head that reads class 0 for every image: half the images
        cae.code_head.weight.zero_()
        cae.code_head.bias.copy_(torch.tensor([1.0, 0.0]))
    black_box = caelib.as_black_box(Brightness(), num_classes=2)
    hint = {g.name: g.hint for g in verdict(cae, black_box, test, n=40).guards}["recon_accuracy"]
    assert "the class code is what falls short" in hint and "decoder" not in hint

    real = verdict_module.quality_report
    monkeypatch.setattr(verdict_module, "quality_report", lambda *a, **k: {**real(*a, **k), "code_accuracy": 1.0})
    hint = {g.name: g.hint for g in verdict(cae, black_box, test, n=40).guards}["recon_accuracy"]
    assert "the decoder loses the details" in hint and "falls short" not in hint
