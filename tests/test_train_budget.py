"""A CAE trained within a time budget (TrainConfig.minutes, train-cae --minutes)."""

import pytest
import torch

from caelib.cae import CAEConfig
from caelib.cli import build_parser
from caelib.data import ImageDataset
from caelib.train import TrainConfig, train_cae
from caelib.train_config import TIME_PROBE_STEPS, steps_within

TINY = CAEConfig(image_size=16, num_classes=2, width=4, n_res=1, mlp_dim=16, class_dim=4, disc_width=4)


def _noise(n=32):
    g = torch.Generator().manual_seed(0)
    return ImageDataset(torch.rand(n, 1, 16, 16, generator=g) * 2 - 1, torch.arange(n) % 2,
                        class_names=("a", "b"), name="noise")


def test_the_steps_that_fit_a_budget():
    cfg = TrainConfig(steps=2000, minutes=10)
    assert steps_within(cfg, 0.1) == 2000                        # 6,000 fit: the asked-for 2,000
    assert steps_within(cfg, 0.5) == 1200                        # 600 s at 0.5 s per step
    assert steps_within(TrainConfig(steps=2000, minutes=10, erase_steps=200), 0.5) == 1000  # the erase steps fit too
    assert steps_within(cfg, 0.5, done=100, spent=300) == 100 + 600   # what is left of the budget
    assert steps_within(cfg, 10.0, done=40, spent=700) == 40            # over budget: stop where it is
    with pytest.raises(ValueError, match="minutes"):
        TrainConfig(minutes=0)


def test_a_budget_cuts_the_run_and_the_schedule_follows(tmp_path):
    cfg = TrainConfig(steps=400, batch_size=2, minutes=1e-4)    # 6 ms: nothing beyond the timed steps fits
    ck = tmp_path / "cae.pt"
    res = train_cae(_noise(), TINY, cfg, checkpoint=ck, progress=False)
    assert res.step == TIME_PROBE_STEPS
    saved = torch.load(ck, weights_only=True)
    plan = saved["meta"]["minutes_plan"]
    assert plan["steps"] == TIME_PROBE_STEPS and plan["minutes"] == 1e-4 and plan["seconds_per_step"] > 0
    assert saved["meta"]["train_config"]["steps"] == TIME_PROBE_STEPS
    lr = saved["state"]["opt_g"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(cfg.lr * cfg.final_lr_fraction)   # the cosine schedule ended with the run
    again = train_cae(_noise(), TINY, cfg, checkpoint=ck, progress=False)   # the same command again: done
    assert again.step == TIME_PROBE_STEPS


def test_without_a_budget_the_run_takes_its_steps():
    res = train_cae(_noise(), TINY, TrainConfig(steps=TIME_PROBE_STEPS + 5, batch_size=2), progress=False)
    assert res.step == TIME_PROBE_STEPS + 5


def test_the_command_line_trains_within_the_budget(tmp_path):
    from caelib.cli import main
    from caelib.data import load_dataset, save_image_folder

    save_image_folder(load_dataset("lesions", n=40), tmp_path / "imgs")
    out = tmp_path / "cae.pt"
    tiny = ["--width", "4", "--class-dim", "4", "--batch-size", "2", "--quiet"]
    assert main(["train-cae", "--folder", str(tmp_path / "imgs"), "--out", str(out), "--steps", "500",
                 "--minutes", "0.0001", *tiny]) == 0
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["step"] == TIME_PROBE_STEPS == meta["minutes_plan"]["steps"]
    assert build_parser().parse_args(["train-cae", "--dataset", "digits", "--out", "x.pt"]).minutes is None
