"""``python -m caelib``: help on every command, training and resuming, explain with --json, the tour, and bad
input (each a clear message, exit code 2 and nothing written or overwritten)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caelib.checkpoints import load_checkpoint
from caelib.classifier import ClassifierConfig, SmallCNN, save_classifier
from caelib.cli import main
from caelib.data import load_dataset, save_image_folder

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("tour", "train-classifier", "train-cae", "explain")
TINY = ["--width", "4", "--batch-size", "4", "--quiet"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_pngs(folder: Path, count: int, size: int = 32, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), "L").save(folder / f"{i:03d}.png")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A small folder of lesion images, one sub-folder per class."""
    root = tmp_path_factory.mktemp("imgs")
    save_image_folder(load_dataset("lesions", n=40), root)
    return root


@pytest.fixture(scope="module")
def trained_cae(folder: Path, tmp_path_factory) -> Path:
    """A CAE checkpoint written by train-cae on ``folder`` (2 steps)."""
    out = tmp_path_factory.mktemp("cae") / "cae.pt"
    assert main(["train-cae", "--folder", str(folder), "--steps", "2", "--out", str(out), *TINY]) == 0
    return out


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------------------------ help


def test_python_m_caelib_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "caelib", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: caelib {command}" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- train and resume


def test_train_cae_writes_then_resumes_the_checkpoint(folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cae.pt"
    code, _, err = run(["train-cae", "--folder", str(folder), "--steps", "2", "--out", str(out), *TINY], capsys)
    assert code == 0, err
    ck = load_checkpoint(out, kind="cae")
    assert ck["meta"]["step"] == 2 and ck["meta"]["class_names"] == ["lesion", "normal"]
    assert ck["meta"]["data"]["root"] == str(folder.resolve())
    code, _, err = run(["train-cae", "--folder", str(folder), "--steps", "3", "--out", str(out), *TINY], capsys)
    assert code == 0 and "resuming" in err and "from step 2" in err
    assert load_checkpoint(out, kind="cae")["meta"]["step"] == 3


def test_train_classifier_and_no_overwrite_without_force(folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "clf.pt"
    argv = ["train-classifier", "--folder", str(folder), "--epochs", "1", "--out", str(out), "--quiet"]
    code, _, err = run(argv, capsys)
    assert code == 0 and "test accuracy" in err
    meta = load_checkpoint(out, kind="classifier")["meta"]
    assert meta["class_names"] == ["lesion", "normal"] and 0 <= meta["test_accuracy"] <= 1
    before = digest(out)
    code, _, err = run(argv, capsys)
    assert code == 2 and "exists" in err and "--force" in err
    assert digest(out) == before


# ------------------------------------------------------------------------------------------------- explain


def test_explain_three_images_json(tmp_path: Path, capsys) -> None:
    test = load_dataset("lesions", "test", n=3)
    paths = save_image_folder(test, tmp_path / "in")
    out = tmp_path / "out"
    code, stdout, err = run(["explain", *map(str, paths), "--out", str(out), "--json", "--bank-size", "400",
                             "--quiet"], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    assert report["models"] == {"pretrained": "lesions"} and report["class_names"] == ["normal", "lesion"]
    assert len(report["results"]) == 3
    for r, path in zip(report["results"], paths):
        assert r["image"] == str(path) and Path(r["figure"]).is_file()
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-3
        assert r["target"] != r["decision"] and r["target"] in report["class_names"]
        assert r["flipped"] == (r["flip_step"] >= 0) and 0 <= r["saliency_peak"]["row"] < 32
        if r["flipped"]:  # at the flip the black box says the target
            probs = r["counterfactual_probabilities"]
            assert max(probs, key=probs.get) == r["target"]
    # the PNGs exist now: a second run refuses to replace them
    code, _, err = run(["explain", str(paths[0]), "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "exists" in err


def test_explain_with_the_path_gradient_map_points_at_the_lesions(tmp_path: Path, capsys) -> None:
    test = load_dataset("lesions", "test", n=40)
    sick = [i for i in range(len(test)) if int(test.labels[i]) == 1][:8]
    chosen = test.subset(sick)
    paths = save_image_folder(chosen, tmp_path / "in")
    code, stdout, err = run(["explain", *map(str, paths), "--out", str(tmp_path / "out"), "--json", "--bank-size",
                             "400", "--variant", "path-gradient", "--quiet"], capsys)
    assert code == 0, err
    for r, mask in zip(json.loads(stdout)["results"], chosen.masks):  # the paper's map misses 2 of these 8
        assert r["decision"] == "lesion"
        assert mask[0, r["saliency_peak"]["row"], r["saliency_peak"]["col"]] == 1


# ---------------------------------------------------------------------------------------------------- tour


def test_tour_writes_a_report_and_refuses_to_overwrite_it(tmp_path: Path, capsys) -> None:
    from caelib.tour import run_tour

    out = tmp_path / "report"
    m = run_tour(out, n_test=80, n_bank=300, n_saliency=20, progress=False)
    names = {p.name for p in out.iterdir()}
    assert {"index.md", "index.html", "metrics.json", "1_dataset.png", "3_swaps.png", "5_path.png",
            "6_saliency.png"} <= names
    for key in ("classifier_accuracy", "swap_flip_rate", "recon_accuracy", "path_flip_rate", "pointing_game",
                "pointing_game_path_gradient"):
        assert 0 <= m[key] <= 1, key
        assert f"{m[key]:.3f}" in (out / "index.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["swap_flip_rate"] == m["swap_flip_rate"]
    assert "<table>" in (out / "index.html").read_text()
    before = digest(out / "index.md")
    code, _, err = run(["tour", "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "already holds a report" in err
    assert digest(out / "index.md") == before


# ------------------------------------------------------------------------------------------------ bad input


def test_folder_with_one_class(tmp_path: Path, capsys) -> None:
    write_pngs(tmp_path / "imgs" / "only", 6)
    for command in ("train-cae", "train-classifier"):
        out = tmp_path / f"{command}.pt"
        code, _, err = run([command, "--folder", str(tmp_path / "imgs"), "--out", str(out), "--quiet"], capsys)
        assert code == 2 and ">= 2 classes" in err and "own sub-folder" in err
        assert not out.exists()


def test_empty_class_folder(tmp_path: Path, capsys) -> None:
    write_pngs(tmp_path / "imgs" / "a", 6)
    (tmp_path / "imgs" / "b").mkdir()
    out = tmp_path / "cae.pt"
    code, _, err = run(["train-cae", "--folder", str(tmp_path / "imgs"), "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "holds no images" in err and str(tmp_path / "imgs" / "b") in err
    assert not out.exists()


def test_unreadable_files(tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        write_pngs(tmp_path / "imgs" / "train" / name, 4)
        write_pngs(tmp_path / "imgs" / "test" / name, 2)
    (tmp_path / "imgs" / "train" / "b" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "cae.pt"
    argv = ["train-cae", "--folder", str(tmp_path / "imgs"), "--out", str(out), "--steps", "1", *TINY]
    code, _, err = run(argv, capsys)
    assert code == 2 and "broken.png" in err and "could not read" in err
    assert not out.exists()
    code, _, err = run(argv + ["--skip-unreadable"], capsys)   # the way out the message names
    assert code == 0 and out.exists()


def test_images_smaller_than_the_model(tmp_path: Path, trained_cae: Path, folder: Path, capsys) -> None:
    for name in ("a", "b"):
        write_pngs(tmp_path / "small" / name, 4, size=16)
    out = tmp_path / "cae.pt"
    code, _, err = run(["train-cae", "--folder", str(tmp_path / "small"), "--image-size", "32", "--out", str(out),
                        "--quiet"], capsys)
    assert code == 2 and "smaller than the model's 32x32" in err and "(16x16)" in err and "--upscale" in err
    assert not out.exists()
    clf = tmp_path / "clf.pt"
    save_classifier(clf, SmallCNN(ClassifierConfig(num_classes=2)))
    code, _, err = run(["explain", str(tmp_path / "small" / "a" / "000.png"), "--cae", str(trained_cae),
                        "--classifier", str(clf), "--out", str(tmp_path / "ex"), "--quiet"], capsys)
    assert code == 2 and "smaller than the model's 32x32" in err
    assert not (tmp_path / "ex").exists()


def test_checkpoint_for_other_image_size_or_channels(folder: Path, trained_cae: Path, capsys) -> None:
    before = digest(trained_cae)
    for extra, field in ((["--image-size", "16"], "image_size=32"), (["--channels", "3"], "channels=1")):
        code, _, err = run(["train-cae", "--folder", str(folder), "--out", str(trained_cae), "--steps", "4",
                            *extra, *TINY], capsys)
        assert code == 2 and field in err and "--image-size" in err
        assert digest(trained_cae) == before, "a mismatched checkpoint must not be overwritten"


def test_classifier_for_other_images_or_classes(folder: Path, trained_cae: Path, tmp_path: Path, capsys) -> None:
    image = str(next((folder / "normal").iterdir()))
    cases = {"three": (ClassifierConfig(num_classes=3), "returns 3 class scores"),
             "small": (ClassifierConfig(num_classes=2, image_size=16), "trained for 1x16x16 images"),
             "rgb": (ClassifierConfig(num_classes=2, channels=3), "trained for 3x32x32 images")}
    for name, (config, message) in cases.items():
        clf = tmp_path / f"{name}.pt"
        save_classifier(clf, SmallCNN(config))
        out = tmp_path / f"ex-{name}"
        code, _, err = run(["explain", image, "--cae", str(trained_cae), "--classifier", str(clf),
                            "--out", str(out), "--quiet"], capsys)
        assert code == 2 and message in err, err
        assert not out.exists()
    new = tmp_path / "new-cae.pt"
    code, _, err = run(["train-cae", "--folder", str(folder), "--classifier", str(tmp_path / "three.pt"),
                        "--out", str(new), "--quiet"], capsys)
    assert code == 2 and "returns 3 class scores" in err and not new.exists()


def test_other_bad_arguments(tmp_path: Path, capsys) -> None:
    code, _, err = run(["train-cae", "--dataset", "nope", "--out", str(tmp_path / "c.pt"), "--quiet"], capsys)
    assert code == 2 and "unknown dataset" in err
    code, _, err = run(["train-cae", "--folder", str(tmp_path / "missing"), "--out", str(tmp_path / "c.pt")], capsys)
    assert code == 2 and "does not exist" in err
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("my notes")
    code, _, err = run(["train-cae", "--dataset", "lesions", "--max-images", "20", "--out", str(not_a_checkpoint),
                        "--quiet"], capsys)
    assert code == 2 and "not a caelib checkpoint" in err and not_a_checkpoint.read_text() == "my notes"
    code, _, err = run(["explain", str(tmp_path / "nowhere.png"), "--out", str(tmp_path / "ex"), "--quiet"], capsys)
    assert code == 2 and "nowhere.png" in err
    with pytest.raises(SystemExit) as exit_info:   # argparse's own usage errors exit with 2 too
        main(["train-cae", "--out", str(tmp_path / "c.pt")])
    assert exit_info.value.code == 2
