"""Checkpoints: round trip, atomic writes, and clear errors for every way a file can be wrong."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from caelib import checkpoints as ck
from caelib.checkpoints import (
    FORMAT_VERSION,
    CheckpointError,
    config_from_dict,
    config_to_dict,
    load_checkpoint,
    load_state,
    save_checkpoint,
)


@dataclass(frozen=True)
class Cfg:
    image_size: int = 32  # side
    channels: int = 1  # C


def _save(path, **kw):
    net = nn.Linear(3, 2)
    args = dict(
        kind="classifier",
        config={"image_size": 32, "channels": 1},
        state={"classifier": net.state_dict()},
        meta={"accuracy": np.float64(0.5), "seed": 0},
    )
    args.update(kw)
    save_checkpoint(path, **args)
    return net


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "model.pt"
    net = _save(path)
    out = load_checkpoint(path, kind="classifier", expect_config={"image_size": 32})
    assert out["kind"] == "classifier" and out["version"] == FORMAT_VERSION
    assert out["config"] == {"image_size": 32, "channels": 1}
    assert out["meta"] == {"accuracy": 0.5, "seed": 0} and type(out["meta"]["accuracy"]) is float
    for k, v in net.state_dict().items():
        assert torch.equal(out["state"]["classifier"][k], v)
    other = nn.Linear(3, 2)
    load_state(other, out["state"]["classifier"], "classifier")
    assert torch.equal(other.weight, net.weight)


def test_atomic_write_leaves_no_temp_file_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    _save(path)
    before = path.read_bytes()
    assert os.listdir(tmp_path) == ["model.pt"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would give, not mkstemp's 0600

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        _save(path, meta={"new": 1})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path):
    path = tmp_path / "model.pt"
    _save(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a caelib checkpoint or is damaged.*re-train"):
        load_checkpoint(path)
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="not a caelib checkpoint"):
        load_checkpoint(path)


def test_plain_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a caelib checkpoint"):
        load_checkpoint(path)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save(
        {
            "format": "caelib",
            "version": FORMAT_VERSION,
            "kind": "classifier",
            "config": {},
            "state": {},
            "meta": {"x": Evil()},
        },
        path,
        pickle_module=pickle,
    )
    with pytest.raises(CheckpointError, match="not a caelib checkpoint or is damaged"):
        load_checkpoint(path)


def test_version_error(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    monkeypatch.setattr(ck, "FORMAT_VERSION", 99)
    _save(path)
    monkeypatch.setattr(ck, "FORMAT_VERSION", 1)
    with pytest.raises(CheckpointError, match="version 99.*reads version 1"):
        load_checkpoint(path)


def test_kind_error(tmp_path):
    path = tmp_path / "model.pt"
    _save(path, kind="cae")
    with pytest.raises(CheckpointError, match="'cae' checkpoint; expected 'classifier'"):
        load_checkpoint(path, kind="classifier")


def test_config_mismatch_lists_fields(tmp_path):
    path = tmp_path / "model.pt"
    _save(path, config={"image_size": 64, "channels": 3, "width": 16})
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, expect_config={"image_size": 32, "channels": 1, "width": 16})
    msg = str(err.value)
    assert "checkpoint was trained with image_size=64, channels=3; this model has image_size=32, channels=1" in msg
    assert "width" not in msg


def test_config_fields_added_later_count_as_their_defaults(tmp_path):
    """A checkpoint written before a config field existed (here ``disc_res``) still matches a config that
    leaves the field at its default, and is refused by one that does not."""
    from dataclasses import asdict, replace

    from caelib.cae import CAEConfig
    cfg = CAEConfig(num_classes=3)
    old = asdict(cfg)
    del old["disc_res"]
    path = tmp_path / "old.pt"
    _save(path, config=old)
    assert load_checkpoint(path, expect_config=cfg)["config"] == old
    with pytest.raises(CheckpointError, match="trained with disc_res=0; this model has disc_res=2"):
        load_checkpoint(path, expect_config=replace(cfg, disc_res=2))
    with pytest.raises(CheckpointError, match="num_classes=3; this model has num_classes=4"):
        load_checkpoint(path, expect_config=replace(cfg, num_classes=4))


def test_config_written_before_the_pooled_class_encoder_loads_as_strided(tmp_path):
    """CAEConfig.BEFORE_FIELD: a CAE checkpoint without ``class_encoder`` was trained with the strided class encoder
    (the default until the pooled one): it matches a strided config, builds the strided network and loads its
    weights; a pooled config (the default now) is refused with the field named."""
    from dataclasses import asdict, replace

    from caelib.cae import CAE, CAEConfig, Discriminator
    from caelib.pretrained import load_cae
    strided = CAEConfig(num_classes=2, width=4, class_encoder="strided")
    old = asdict(strided)
    del old["class_encoder"]
    path = tmp_path / "old.pt"
    _save(path, config=old, kind="cae",
          state={"cae": CAE(strided).state_dict(), "discriminator": Discriminator(strided).state_dict()})
    assert load_checkpoint(path, expect_config=strided)["config"] == old
    with pytest.raises(CheckpointError, match="class_encoder='strided'; this model has class_encoder='pooled'"):
        load_checkpoint(path, expect_config=replace(strided, class_encoder="pooled"))
    assert CAEConfig().class_encoder == "pooled"
    assert load_cae(path)[0].config == strided


def test_non_plain_meta_is_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="plain values"):
        _save(tmp_path / "m.pt", meta={"model": nn.Linear(1, 1)})
    assert not list(tmp_path.iterdir())


def test_load_state_size_mismatch():
    sd = nn.Linear(3, 2).state_dict()
    with pytest.raises(CheckpointError, match="'classifier' weights do not fit this Linear.*size mismatch"):
        load_state(nn.Linear(4, 2), sd, "classifier")


def test_config_dict_helpers():
    cfg = Cfg(image_size=64)
    assert config_from_dict(Cfg, config_to_dict(cfg)) == cfg
    assert config_from_dict(Cfg, {"channels": 3}) == Cfg(channels=3)
    with pytest.raises(CheckpointError, match="'depth'"):
        config_from_dict(Cfg, {"depth": 3})
