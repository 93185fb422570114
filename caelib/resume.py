"""What a resumed CAE training run keeps from its checkpoint, and what it may change (``caelib.train.train_cae``)."""

from __future__ import annotations

from dataclasses import asdict

from .train_config import TrainConfig

__all__ = ["FIXED_ON_RESUME", "START_ONLY", "RESUME_STATE", "check_resume", "started_with", "plain_config"]

# What a resumed run takes from its checkpoint (the optimisers' and the pair sampler's state), so that a resume
# cannot change it: ``train_cae`` refuses a config that asks for other values instead of ignoring them.
FIXED_ON_RESUME = ("lr", "beta1", "beta2", "weight_decay", "seed")
# What acts before the first step only (the class code's warm-up): a resumed run keeps the checkpoint's value
# (``started_with``; 0 for checkpoints written before it existed) and a new value is neither refused nor recorded.
START_ONLY = ("warmup_steps",)
# The optimiser and sampler state a checkpoint must hold to be resumed.
RESUME_STATE = ("opt_g", "opt_d", "sched_g", "sched_d", "rng")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def check_resume(checkpoint, stored_meta: dict, config: TrainConfig, step: int) -> list[dict]:
    """Refuse to resume with other ``FIXED_ON_RESUME`` values than the checkpoint's (they would be ignored);
    -> the checkpoint's list of resumes, plus this one when it changes other settings (the meta's record)."""
    resumes = list(stored_meta.get("resumes", []))
    stored = stored_meta.get("train_config")
    if not isinstance(stored, dict):   # written before caelib recorded it: nothing to compare
        return resumes
    old, new = _flat(stored), _flat(plain_config(config))
    fixed = [k for k in FIXED_ON_RESUME if k in old and old[k] != new[k]]
    if fixed:
        have = ", ".join(f"{k}={old[k]!r}" for k in fixed)
        want = ", ".join(f"{k}={new[k]!r}" for k in fixed)
        flags = " ".join(f"--{k} {old[k]}" for k in fixed if k in ("lr", "seed"))
        raise ValueError(f"{checkpoint} was trained with {have}, but this run asks for {want}; a resumed run "
                         "keeps them (its optimiser and pair sampler come from the checkpoint). Resume with the "
                         f"checkpoint's values{f' ({flags})' if flags else ''}, or start a new model (another "
                         "checkpoint path, or --force on the command line)")
    changed = {k: [old.get(k), new[k]] for k in new if old.get(k) != new[k] and k not in START_ONLY}
    if changed:
        resumes.append({"step": step, "changed": changed})
    return resumes


def started_with(stored_meta: dict) -> dict:
    """The ``START_ONLY`` settings a checkpoint's run started with (0 where its meta does not record them)."""
    stored = stored_meta.get("train_config")
    stored = stored if isinstance(stored, dict) else {}
    return {k: int(stored.get(k) or 0) for k in START_ONLY}


def plain_config(config: TrainConfig) -> dict:
    """``config`` as the nested plain dict a checkpoint's meta stores (``weights_only`` loading reads it)."""
    def plain(d: dict) -> dict:
        return {k: (plain(v) if isinstance(v, dict) else v) for k, v in d.items()}
    return plain(asdict(config))
