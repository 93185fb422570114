"""Training beyond one device: ``torchrun`` + DistributedDataParallel, tested on the CPU with gloo and 2 processes.

Each rank draws its own pairs, so without gradient averaging their weights would drift apart; with DDP both
ranks must end with the very same weights, different from the initial ones, and rank 0's checkpoint holds them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from caelib.cae import CAE, CAEConfig
from caelib.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 4  # a tiny CAE: the test checks the machinery, not the model

# Under torchrun, each rank runs the command line's train-cae; the wrapper around train_cae keeps every rank's
# final weights and losses for the test to compare (the command line itself only writes rank 0's checkpoint).
SCRIPT = textwrap.dedent("""
    import sys
    import torch
    torch.set_num_threads(1)
    import caelib.train
    from caelib import cli, distributed

    out = sys.argv[1]
    assert distributed.setup("gloo") and distributed.world_size() == 2
    train_cae = caelib.train.train_cae

    def keep_weights(*args, **kw):
        result = train_cae(*args, **kw)
        torch.save({"cae": result.cae.state_dict(), "disc": result.disc.state_dict(),
                    "losses": [row["recon"] for row in result.history]}, f"{out}/rank{distributed.rank()}.pt")
        return result

    caelib.train.train_cae = keep_weights
    code = cli.main(["train-cae", "--dataset", "lesions", "--max-images", "64", "--steps", "3", "--batch-size", "4",
                     "--width", "%d", "--device", "cpu", "--out", out + "/cae.pt", "--quiet"])
    distributed.cleanup()
    sys.exit(code)
""" % WIDTH)


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_train_cae_under_torchrun_two_ranks_end_with_the_same_weights(tmp_path: Path) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    run = torchrun([str(script), str(tmp_path)], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("training a CAE on") == 1, "only rank 0 should report"
    assert "2 processes (DistributedDataParallel)" in run.stderr
    assert "all 2 ranks hold the same weights: True" in run.stderr
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["losses"] and r0["losses"] != r1["losses"], "both ranks saw the same pairs: the data is not sharded"
    assert _same(r0["cae"], r1["cae"]) and _same(r0["disc"], r1["disc"]), "the ranks' weights differ"
    torch.manual_seed(0)  # train_cae's initialisation (TrainConfig.seed = 0)
    init = CAE(CAEConfig(num_classes=2, width=WIDTH)).state_dict()
    assert not _same(init, r0["cae"]), "training did not change the weights"
    ck = load_checkpoint(tmp_path / "cae.pt", kind="cae")
    assert ck["meta"]["step"] == 3 and ck["meta"]["world_size"] == 2 and ck["meta"]["data"] == {"dataset": "lesions"}
    assert len(ck["state"]["rng"]["pairs_by_rank"]) == 2
    assert _same(ck["state"]["cae"], r0["cae"]), "rank 0's checkpoint does not hold the final weights"
