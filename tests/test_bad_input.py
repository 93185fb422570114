"""Bad input, one case per row of the hardening table (issue 27): the command line (``main([...])``) and the
library. Each case asserts the exit code or the exception, the message (what is allowed, what to do) and that
no file was lost or written. The kill-during-save fault test is in ``test_kill_during_save.py``."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from caelib import saliency
from caelib.cae import CAE, CAEConfig
from caelib.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, stale_temp_files
from caelib.classifier import NonFiniteOutputError, as_black_box, predict_proba, train_classifier
from caelib.cli import main
from caelib.data import load_dataset
from caelib.paths import CodeBank, MedoidReference, counterfactual_path
from caelib.pretrained import load_cae
from caelib.saliency_path import CAESaliency
from caelib.train import TrainConfig, train_cae

TINY = ["--width", "4", "--batch-size", "4", "--quiet"]
DATA = ["--dataset", "lesions", "--max-images", "16"]
CFG = CAEConfig(width=4)      # what train-cae builds for DATA with TINY


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run the command line in this process -> (exit code, stderr); argparse's usage errors exit too."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    """The error line of stderr (argparse prints its usage above it); asserts there is exactly one."""
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A CAE checkpoint from train-cae: 2 steps on 16 lesion images."""
    out = tmp_path_factory.mktemp("trained") / "cae.pt"
    assert main(["train-cae", *DATA, "--steps", "2", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def clf_file(tmp_path_factory) -> Path:
    """A FILE.py:FUNCTION black box: class 1 iff the mean pixel > 0; NaN scores for images with a white pixel."""
    path = tmp_path_factory.mktemp("clf") / "nan_model.py"
    path.write_text(
        "import torch\n"
        "from caelib import as_black_box\n\n\n"
        "class Model(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        m = x.mean(dim=(1, 2, 3))\n"
        "        z = 20 * torch.stack([-m, m], 1)\n"
        "        white = x.amax(dim=(1, 2, 3)) > 0.99\n"
        "        return torch.where(white[:, None], torch.full_like(z, float('nan')), z)\n\n\n"
        "def load():\n"
        "    return as_black_box(Model(), num_classes=2)\n")
    return path


def png(path: Path, value: int, white_pixel: bool = False) -> Path:
    a = np.full((32, 32), value, np.uint8)
    if white_pixel:
        a[3, 3] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a, "L").save(path)
    return path


def read_only_folder(tmp_path: Path) -> Path:
    """A folder nobody here can write into: a read-only one, or /sys for root (root ignores permissions)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# ------------------------------------------------------------------- rows: bad values on the command line
# (row of the table, argv, what the one error line must say); each exits 2 before anything is written

BAD_VALUES = [
    ("steps-0", ["train-cae", *DATA, "--steps", "0", *TINY], "--steps: must be a whole number >= 1, got '0'"),
    ("steps-negative", ["train-cae", *DATA, "--steps", "-3", *TINY], "--steps: must be a whole number >= 1"),
    ("batch-size-0", ["train-cae", *DATA, "--steps", "2", "--batch-size", "0"], "--batch-size: must be a whole "
     "number >= 1, got '0'"),
    ("batch-size-negative", ["train-cae", *DATA, "--batch-size", "-4"], "--batch-size: must be a whole number >= 1"),
    ("checkpoint-every-0", ["train-cae", *DATA, "--checkpoint-every", "0", *TINY], "--checkpoint-every: must be a "
     "whole number >= 1"),
    ("threads-negative", ["--threads", "-2", "train-cae", *DATA, *TINY], "--threads: must be a whole number >= 1"),
    ("classifier-batch-size-0", ["train-classifier", *DATA, "--batch-size", "0", "--quiet"], "--batch-size: must be "
     "a whole number >= 1"),
    ("classifier-epochs-0", ["train-classifier", *DATA, "--epochs", "0", "--quiet"], "--epochs: must be a whole "
     "number >= 1"),
    ("image-size-0", ["train-cae", "--folder", "imgs", "--image-size", "0", *TINY], "image size must be a positive "
     "multiple of 4"),
    ("image-size-negative", ["train-classifier", "--folder", "imgs", "--image-size", "-4", "--quiet"], "image size "
     "must be a positive multiple of 4"),
    ("image-size-not-4", ["explain", "a.png", "--folder", "imgs", "--image-size", "30"], "image size must be a "
     "positive multiple of 4"),
    # the same shapes of input to the commands the table does not list
    ("lr-0", ["train-cae", *DATA, "--lr", "0", *TINY], "--lr: must be a number > 0"),
    ("classifier-lr-nan", ["train-classifier", *DATA, "--lr", "nan", "--quiet"], "--lr: must be a number > 0"),
    ("critic-negative", ["train-cae", *DATA, "--critic", "-1", *TINY], "--critic: must be a number >= 0"),
    ("max-images-0", ["train-cae", "--dataset", "lesions", "--max-images", "0", *TINY], "--max-images: must be a "
     "whole number >= 1"),
    ("class-dim-0", ["train-cae", *DATA, "--class-dim", "0", *TINY], "--class-dim: must be a whole number >= 1"),
    ("explain-steps-1", ["explain", "a.png", "--steps", "1"], "--steps: must be a whole number >= 2"),
    ("explain-bank-size-0", ["explain", "a.png", "--bank-size", "0"], "--bank-size: must be a whole number >= 1"),
    ("tour-n-test-0", ["tour", "--n-test", "0"], "--n-test: must be a whole number >= 1"),
    ("tour-n-test-text", ["tour", "--n-test", "many"], "--n-test: must be a whole number >= 1, got 'many'"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_values_exit_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    command = next(a for a in argv if not a.startswith("-") and not a.lstrip("-").isdigit())
    code, err = cli(argv + ["--out", tmp_path / ("out.pt" if command.startswith("train") else "out")], capsys)
    assert code == 2
    line = one_error_line(err)
    assert message in line, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing may be written"


# ------------------------------------------------------------------- row: --force keeps the old file


def test_force_keeps_the_old_file_until_the_new_run_writes_its_first_checkpoint(trained, tmp_path, capsys,
                                                                                monkeypatch) -> None:
    old = tmp_path / "old.pt"
    shutil.copy(trained, old)
    before = digest(old)
    # --steps 0 used to delete old.pt and write nothing
    code, err = cli(["train-cae", *DATA, "--force", "--steps", "0", "--out", old, *TINY], capsys)
    assert code == 2 and "--steps" in one_error_line(err) and digest(old) == before
    # a crash (here Ctrl-C) before the first checkpoint leaves old.pt as it was
    import caelib.train

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(caelib.train, "generator_losses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["train-cae", *DATA, "--force", "--steps", "3", "--out", str(old), *TINY])
    assert digest(old) == before
    monkeypatch.undo()
    # a run that gets to its first checkpoint replaces it (atomically): a new model, not a resumed one
    code, err = cli(["train-cae", *DATA, "--force", "--steps", "1", "--out", old, *TINY], capsys)
    assert code == 0, err
    assert "replaced at its first checkpoint" in err and "resuming" not in err
    assert load_checkpoint(old, kind="cae")["meta"]["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.pt"]


# ------------------------------------------------------------------- row: --out that cannot be written


@pytest.mark.parametrize("command", ["train-cae", "train-classifier", "explain", "tour", "student-notebooks"])
@pytest.mark.parametrize("where", ["read-only", "under-a-file"])
def test_unwritable_out_is_refused_before_any_work(command, where, tmp_path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    parent = read_only_folder(tmp_path) if where == "read-only" else blocker
    out = parent / "sub" / ("out.pt" if command.startswith("train") else "out")
    argv = {"train-cae": ["train-cae", *DATA, "--steps", "1", "--out", out, *TINY],
            "train-classifier": ["train-classifier", *DATA, "--epochs", "1", "--out", out, "--quiet"],
            "explain": ["explain", tmp_path / "missing.png", "--out", out, "--quiet"],
            "tour": ["tour", "--out", out, "--quiet"],
            "student-notebooks": ["student-notebooks", out]}[command]
    code, err = cli(argv, capsys)
    assert code == 2
    line = one_error_line(err)
    assert str(out) in line and ("cannot be written" in line or "cannot be created" in line), err
    assert "training a" not in err, "the check comes before the training"
    assert not out.parent.exists()


# ------------------------------------------------------------------- row: the corrupt-image hint


def test_corrupt_image_hint_names_the_flag_on_the_command_line(tmp_path, capsys) -> None:
    for name in ("a", "b"):
        for i in range(3):
            png(tmp_path / "imgs" / name / f"{i}.png", 40 * i + 10)
    (tmp_path / "imgs" / "b" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "cae.pt"
    code, err = cli(["train-cae", "--folder", tmp_path / "imgs", "--steps", "1", "--out", out, *TINY], capsys)
    line = one_error_line(err)
    assert code == 2 and "broken.png" in line and "pass --skip-unreadable" in line
    assert "skip_unreadable=True" not in line and not out.exists()
    messages = []
    for split in ("train", "test"):   # the library names its own argument (the file lies in one of the splits)
        try:
            load_dataset("folder", split, root=tmp_path / "imgs")
        except ValueError as e:
            messages.append(str(e))
    assert len(messages) == 1 and "broken.png" in messages[0] and "pass skip_unreadable=True" in messages[0]


# ------------------------------------------------------------------- row: not a checkpoint / damaged

NOT_CHECKPOINTS = [("text", b"my notes\n", "holds text"),
                   ("random-bytes", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)),
                    "not a file written by torch.save"),
                   ("empty", b"", "the file is empty")]


@pytest.mark.parametrize("content, reason", [c[1:] for c in NOT_CHECKPOINTS], ids=[c[0] for c in NOT_CHECKPOINTS])
def test_a_file_that_is_not_a_checkpoint_gets_the_real_reason(content, reason, tmp_path, capsys) -> None:
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_cae(path)
    msg = str(err.value)
    assert "is not a caelib checkpoint or is damaged" in msg and reason in msg
    assert "safe loading" not in msg and "`python -m caelib train`" not in msg
    assert "python -m caelib train-cae" in msg     # a command that exists
    # the command line: resuming it is refused, the file is kept
    code, err_text = cli(["train-cae", *DATA, "--steps", "1", "--out", path, *TINY], capsys)
    line = one_error_line(err_text)
    assert code == 2 and reason in line and "--force" in line and path.read_bytes() == content
    code, err_text = cli(["explain", tmp_path / "x.png", "--cae", path, "--classifier", "nowhere.py:f", "--out",
                          tmp_path / "ex"], capsys)
    assert code == 2 and reason in one_error_line(err_text)


def test_truncated_checkpoint_says_damaged(trained, tmp_path) -> None:
    path = tmp_path / "cut.pt"
    path.write_bytes(trained.read_bytes()[:3000])
    with pytest.raises(CheckpointError, match="zip archive that ends too early"):
        load_checkpoint(path)


# ------------------------------------------------------------------- row: checkpoint without state['cae']


def test_checkpoint_without_cae_state_is_a_damaged_checkpoint(tmp_path, capsys) -> None:
    path = tmp_path / "half.pt"
    save_checkpoint(path, kind="cae", config=asdict(CFG), state={"discriminator": {}}, meta={"step": 1})
    before = digest(path)
    with pytest.raises(CheckpointError, match=r"damaged or incomplete: it holds no 'cae' state \(roles: "
                                              r"'discriminator'\)"):
        load_cae(path)
    code, err = cli(["train-cae", *DATA, "--steps", "2", "--out", path, *TINY], capsys)     # resume
    assert code == 2 and "holds no 'cae' state" in one_error_line(err) and digest(path) == before
    code, err = cli(["explain", tmp_path / "x.png", "--cae", path, "--classifier", "nowhere.py:f", "--out",
                     tmp_path / "ex"], capsys)
    assert code == 2 and "holds no 'cae' state" in one_error_line(err)


# ------------------------------------------------------------------- row: resume with another --lr / --seed


@pytest.mark.parametrize("flag, value, stored", [("--lr", "0.01", "lr=0.001"), ("--seed", "5", "seed=0")])
def test_resume_with_another_lr_or_seed_is_refused(flag, value, stored, trained, tmp_path, capsys) -> None:
    path = tmp_path / "cae.pt"
    shutil.copy(trained, path)
    before = digest(path)
    code, err = cli(["train-cae", *DATA, "--steps", "3", flag, value, "--out", path, *TINY], capsys)
    line = one_error_line(err)
    assert code == 2 and f"was trained with {stored}" in line and "--force" in line
    assert f"{flag} {stored.split('=')[1]}" in line        # the values that resume it
    assert digest(path) == before


def test_resume_meta_tells_what_changed(trained, tmp_path, capsys) -> None:
    path = tmp_path / "cae.pt"
    shutil.copy(trained, path)
    code, err = cli(["train-cae", *DATA, "--steps", "3", "--swap-class-weight", "2", "--out", path, *TINY], capsys)
    assert code == 0, err
    meta = load_checkpoint(path, kind="cae")["meta"]
    assert meta["step"] == 3 and meta["train_config"]["weights"]["swap_class"] == 2.0
    assert meta["resumes"] == [{"step": 2, "changed": {"steps": [2, 3], "weights.swap_class": [1.0, 2.0]}}]
    # the library: the same refusal
    ds = load_dataset("lesions", n=16)
    with pytest.raises(ValueError, match=r"was trained with lr=0\.001, but this run asks for lr=0\.002"):
        train_cae(ds, CFG, TrainConfig(steps=4, batch_size=4, lr=2e-3), checkpoint=path, progress=False)
    code, err = cli(["train-cae", *DATA, "--steps", "2", "--out", path, *TINY], capsys)   # fewer steps than done
    assert code == 2 and "has trained 3 steps already" in one_error_line(err)


# ------------------------------------------------------------------- row: stale temporary files


def test_stale_temporary_files_are_deleted_or_listed(trained, tmp_path, capsys) -> None:
    import subprocess
    import sys

    path = tmp_path / "cae.pt"
    shutil.copy(trained, path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)          # a process that has ended
    from caelib.checkpoints import _host

    stale = tmp_path / f".cae.pt.p{pid}@{_host()}.abc123.tmp"
    old_style = tmp_path / ".cae.pt.x1y2z3.tmp"        # written before the writer was in the name
    alive = tmp_path / f".cae.pt.p{os.getpid()}@{_host()}.zzz.tmp"
    for f in (stale, old_style, alive):
        f.write_bytes(b"half a checkpoint")
    assert stale_temp_files(path) == ([stale], [old_style])
    code, err = cli(["train-cae", *DATA, "--steps", "3", "--out", path, *TINY], capsys)
    assert code == 0, err
    assert re.search(r"warning: deleted 1 temporary file\(s\) left by a run killed while it saved .*" + stale.name,
                     err)
    assert "warning: 1 temporary file(s) beside" in err and old_style.name in err
    assert not stale.exists() and old_style.exists() and alive.exists()


# ------------------------------------------------------------------- rows: the black box


class Linear(nn.Module):
    """Centred logits of a linear map (so that log-probabilities, centred, give them back exactly)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(32 * 32, 2)

    def forward(self, x):
        z = self.lin(x.flatten(1)) * 3
        return z - z.mean(1, keepdim=True)


class Softmaxed(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), 1)


def images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_probability_outputs_are_refused_or_taken_as_probabilities() -> None:
    logits_model = Linear().eval()
    x = images()
    with pytest.raises(ValueError, match=r"returns probabilities .*outputs='probabilities'"):
        as_black_box(Softmaxed(logits_model), num_classes=2)(x)
    bb = as_black_box(Softmaxed(logits_model), num_classes=2, outputs="probabilities")
    ref = as_black_box(logits_model, num_classes=2)
    assert torch.allclose(predict_proba(bb, x), predict_proba(ref, x), atol=1e-5)   # not softmaxed twice
    assert torch.allclose(bb(x), ref(x), atol=1e-4)
    maps, ref_maps = saliency.explain("saliency", bb, x), saliency.explain("saliency", ref, x)
    assert torch.allclose(maps, ref_maps, atol=1e-4)                                # the same gradient maps
    with pytest.raises(ValueError, match="rows are not probabilities"):
        as_black_box(logits_model, num_classes=2, outputs="probabilities")(x)
    with pytest.raises(ValueError, match="outputs must be one of 'logits', 'probabilities'"):
        as_black_box(logits_model, num_classes=2, outputs="scores")


def test_nan_logits_name_the_images(trained, clf_file, tmp_path, capsys) -> None:
    class Nan(nn.Module):
        def forward(self, x):
            z = torch.zeros(len(x), 2)
            z[1] = float("nan")
            return z

    with pytest.raises(NonFiniteOutputError, match=r"NaN or inf scores for image\(s\) 1 of a batch of 3"):
        as_black_box(Nan(), num_classes=2)(images(3))
    cae = CAE(CFG).eval()
    bank = CodeBank(torch.randn(4, 8), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(NonFiniteOutputError):
        counterfactual_path(cae, as_black_box(Nan(), num_classes=2), images(3), reference=MedoidReference(bank))
    dark, bright = png(tmp_path / "dark.png", 20), png(tmp_path / "bright.png", 20, white_pixel=True)
    code, err = cli(["explain", dark, bright, "--cae", trained, "--classifier", f"{clf_file}:load",
                     "--out", tmp_path / "ex", "--quiet"], capsys)
    line = one_error_line(err)
    assert code == 2 and str(bright) in line and str(dark) not in line and "NaN or inf" in line
    assert not (tmp_path / "ex").exists()


def test_explain_target_equal_to_the_decision_is_refused(trained, clf_file, tmp_path, capsys) -> None:
    dark = png(tmp_path / "dark.png", 20)              # mean < 0: the black box says class 0
    for target in ("0", "normal"):
        code, err = cli(["explain", dark, "--cae", trained, "--classifier", f"{clf_file}:load", "--target", target,
                         "--out", tmp_path / "ex", "--quiet"], capsys)
        line = one_error_line(err)
        assert code == 2 and "'normal' is the class the black box already gives" in line and str(dark) in line
    assert not (tmp_path / "ex").exists()


# ------------------------------------------------------------------- rows: the library's inputs

CAE_ = CAE(CFG).eval()
CLF = as_black_box(Linear().eval(), num_classes=2)
BANK = CodeBank(torch.randn(6, 8), torch.tensor([0, 1, 0, 1, 0, 1]))
EMPTY = torch.zeros(0, 1, 32, 32)


def _encode_in(dtype):
    x = images(3)
    codes = CAE_.encode(x.to(dtype))
    ref = CAE_.encode(x)
    tol = 1e-5 if dtype == torch.float64 else 5e-2
    assert codes[0].dtype == torch.float32 and torch.allclose(codes[0], ref[0], atol=tol)
    assert torch.allclose(codes[1], ref[1], atol=tol)
    return True


LIBRARY = [
    # (row, call, exception (None: must succeed), message)
    ("encode-float64", lambda: _encode_in(torch.float64), None, None),
    ("encode-float16", lambda: _encode_in(torch.float16), None, None),
    ("encode-empty", lambda: [tuple(t.shape) for t in CAE_.encode(EMPTY)] == [(0, 8), (0, 16, 8, 8)], None, None),
    ("reconstruct-empty", lambda: tuple(CAE_.reconstruct(EMPTY).shape) == (0, 1, 32, 32), None, None),
    ("path-empty", lambda: counterfactual_path(CAE_, CLF, EMPTY, reference=MedoidReference(BANK)), ValueError,
     r"no images: x has shape \(0, 1, 32, 32\)"),
    ("saliency-empty", lambda: saliency.explain("saliency", CLF, EMPTY), ValueError, "no images to explain"),
    ("saliency-cae-empty", lambda: saliency.explain("cae", CLF, EMPTY, cae=CAE_, bank=BANK), ValueError,
     "no images to explain"),
    ("path-float-target", lambda: counterfactual_path(CAE_, CLF, images(2), target=1.7,
                                                      reference=MedoidReference(BANK)),
     TypeError, r"target must be a class index .*got 1\.7"),
    ("saliency-float-target", lambda: saliency.explain("saliency", CLF, images(2), target=0.5), TypeError,
     "target must be a class index"),
    ("cae-saliency-float-target", lambda: CAESaliency(CAE_, CLF, reference=MedoidReference(BANK)).attribute(
        images(2), target=torch.tensor([0.2, 1.0])), TypeError, "target must be a class index"),
    ("classifier-float64", lambda: CLF(images(2).double()).dtype == torch.float32, None, None),
    ("train-classifier-epochs-0", lambda: train_classifier(Linear(), load_dataset("lesions", n=8), epochs=0,
                                                           progress=False), ValueError, "epochs must be a whole "
     "number >= 1, got 0"),
    ("train-classifier-batch-0", lambda: train_classifier(Linear(), load_dataset("lesions", n=8), batch_size=0,
                                                          progress=False), ValueError, "batch_size must be"),
    ("train-config-batch-0", lambda: TrainConfig(batch_size=0), ValueError, "batch_size must be a whole number"),
    ("train-config-steps-negative", lambda: TrainConfig(steps=-1), ValueError, "steps must be a whole number >= 0"),
    ("train-cae-checkpoint-every-0", lambda: train_cae(load_dataset("lesions", n=8), CFG, TrainConfig(steps=1),
                                                       checkpoint_every=0, progress=False),
     ValueError, "checkpoint_every must be a whole number of steps >= 1"),
    ("load-checkpoint-folder", lambda: load_checkpoint(Path(__file__).parent), CheckpointError, "is a folder"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in LIBRARY], ids=[c[0] for c in LIBRARY])
def test_library_bad_input(call, error, message) -> None:
    if error is None:
        assert call() is True
    else:
        with pytest.raises(error, match=message):
            call()


# ------------------------------------------------------------------- the widgets' constructors


def _widget_cases():
    from caelib import widgets
    from caelib.paths import StraightRoute

    x, y, names = images(4), torch.tensor([0, 1, 0, 1]), ["a", "b"]
    refs, routes = {"medoid": MedoidReference(BANK)}, {"straight": StraightRoute()}
    return [
        ("swap-empty", lambda: widgets.SwapExplorer(CAE_, CLF, EMPTY, torch.zeros(0, dtype=torch.long), names),
         "needs at least one image"),
        ("swap-labels", lambda: widgets.SwapExplorer(CAE_, CLF, x, y[:3], names), "one whole-number label per image"),
        ("swap-names", lambda: widgets.SwapExplorer(CAE_, CLF, x, y, ["a"]), "class_names has 1 name"),
        ("swap-size", lambda: widgets.SwapExplorer(CAE_, CLF, torch.zeros(2, 1, 16, 16), y[:2], names),
         "SwapExplorer's images"),
        ("path-steps", lambda: widgets.PathExplorer(CAE_, CLF, x, y, names, references=refs, routes=routes, steps=1),
         "steps must be a whole number >= 2"),
        ("path-no-route", lambda: widgets.PathExplorer(CAE_, CLF, x, y, names, references=refs, routes={}),
         "at least one reference rule and one route"),
        ("path-empty", lambda: widgets.PathExplorer(CAE_, CLF, EMPTY, torch.zeros(0, dtype=torch.long), names,
                                                    references=refs, routes=routes), "needs at least one image"),
        ("manifold-names", lambda: widgets.ManifoldExplorer(CAE_, CLF, x, y, ["a"], None, torch.zeros(4, 2), y),
         "class_names has 1 name"),
        ("manifold-grid", lambda: widgets.ManifoldExplorer(CAE_, CLF, x, y, names, None, torch.zeros(4, 2), y, grid=1),
         "grid must be a whole number >= 2"),
    ]


WIDGET_IDS = ["swap-empty", "swap-labels", "swap-names", "swap-size", "path-steps", "path-no-route", "path-empty",
              "manifold-names", "manifold-grid"]


@pytest.mark.parametrize("case", WIDGET_IDS)
def test_widget_constructors_refuse_bad_input(case) -> None:
    cases = {name: (make, message) for name, make, message in _widget_cases()}
    assert set(cases) == set(WIDGET_IDS)
    make, message = cases[case]
    with pytest.raises(ValueError, match=message):
        make()


# Kept under test elsewhere: exact resume and determinism (test_cae.py::test_resume_is_exact, the kill test in
# test_kill_during_save.py against a separate uninterrupted process), atomic saves and weights_only loading
# (test_checkpoints.py).
