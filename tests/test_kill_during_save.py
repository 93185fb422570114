"""Fault test: a real ``python -m caelib train-cae`` process is killed (SIGKILL) in the middle of writing a
checkpoint; the next run deletes the temporary file the dead save left, resumes from the last complete
checkpoint and ends with exactly the weights of a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from caelib.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

# The child trains as the command line does, but its 3rd checkpoint save stops after the data is written and
# synced, before the rename (the moment a crash leaves a temporary file): it tells the test, which kills it.
CHILD = """
import os, sys, time
from pathlib import Path

marker, argv = Path(sys.argv[1]), sys.argv[2:]
real_fsync, calls = os.fsync, []


def fsync(fd):
    real_fsync(fd)
    calls.append(fd)
    if len(calls) == 3:
        marker.write_text(str(os.getpid()))
        time.sleep(600)


os.fsync = fsync
from caelib.cli import main
sys.exit(main(argv))
"""


def train_argv(out: Path) -> list[str]:
    return ["--threads", "1", "train-cae", "--dataset", "lesions", "--max-images", "16", "--steps", "4",
            "--checkpoint-every", "1", "--width", "4", "--batch-size", "4", "--quiet", "--out", str(out)]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_during_save_then_resume_exactly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out, marker, reference = tmp_path / "run" / "cae.pt", tmp_path / "saving", tmp_path / "ref" / "cae.pt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker), *train_argv(out)], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ref = subprocess.Popen([sys.executable, "-m", "caelib", *train_argv(reference)], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)   # never interrupted
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), child.stderr.read().decode() if child.poll() is not None else "no save in 300 s"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    left = sorted(p.name for p in out.parent.iterdir())
    temp = [name for name in left if name.endswith(".tmp")]
    assert left == sorted(["cae.pt", *temp]) and len(temp) == 1, left     # the dead save's temporary file
    assert temp[0].startswith(f".cae.pt.p{child.pid}@")
    assert load_checkpoint(out, kind="cae")["meta"]["step"] == 2          # the last complete checkpoint

    resumed = subprocess.run([sys.executable, "-m", "caelib", *train_argv(out)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "from step 2 of 4" in resumed.stderr
    assert f"deleted 1 temporary file(s) left by a run killed while it saved {out}: {temp[0]}" in resumed.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["cae.pt"]

    assert ref.wait(timeout=600) == 0, ref.stderr.read().decode()
    got, want = load_checkpoint(out, kind="cae"), load_checkpoint(reference, kind="cae")
    assert got["meta"]["step"] == want["meta"]["step"] == 4
    for role in ("cae", "discriminator"):
        assert got["state"][role].keys() == want["state"][role].keys()
        for key, value in want["state"][role].items():
            assert torch.equal(got["state"][role][key], value), (role, key)   # exact resume
