"""caelib.conventions: each shared convention written once, and the stage modules use it (issue 28)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from caelib import conventions as cv
from caelib import evaluate as ev


def test_resolve_target_checks_type_count_and_range():
    assert cv.resolve_target(1, 3, 2).tolist() == [1, 1, 1]
    assert cv.resolve_target([0, 1, 1], 3, 2).tolist() == [0, 1, 1]
    decision = torch.tensor([1, 0, 1])
    assert cv.resolve_target(None, 3, 2, default=decision) is decision
    with pytest.raises(TypeError, match="target must be a class index"):
        cv.resolve_target(1.7, 3, 2)
    with pytest.raises(ValueError, match="one class per image"):
        cv.resolve_target([0, 1], 3, 2)
    with pytest.raises(ValueError, match=r"contrast 2 is outside the black box's classes 0\.\.1"):
        cv.resolve_target(2, 3, 2, what="contrast")
    with pytest.raises(ValueError, match="pass target="):
        cv.resolve_target(None, 3, 2)


def test_runner_up_is_the_most_likely_other_class():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    assert cv.runner_up(probs).tolist() == [1, 1, 2]
    assert cv.runner_up(probs, torch.tensor([1, 1, 1])).tolist() == [0, 2, 2]
    assert cv.runner_up(probs.log()).tolist() == [1, 1, 2]           # logits too


def test_evaluating_restores_each_submodule_and_device_of_has_a_default():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train()
    model[1].eval()                                                  # frozen inside a model in training mode
    with cv.evaluating(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model[0].training and not model[1].training
    assert cv.device_of(model) == torch.device("cpu")
    assert cv.device_of(lambda x: x, default="meta") == torch.device("meta")


def test_dilate_blur_and_the_default_replacement():
    m = torch.zeros(1, 1, 5, 5)
    m[0, 0, 2, 2] = 1
    assert cv.dilate(m, 1).sum() == 9 and torch.equal(cv.dilate(m.bool(), 0), m)
    assert cv.DEFAULT_REPLACEMENT == cv.Blurred(4.0)
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    torch.testing.assert_close(cv.replacement(cv.DEFAULT_REPLACEMENT, x), cv.gaussian_blur(x, 4.0))
    assert torch.equal(cv.replacement(-1.0, x), torch.full_like(x, -1.0))


def test_old_import_paths_name_the_same_objects():
    from caelib import baselines, saliency, saliency_path

    assert saliency_path.gaussian_blur is cv.gaussian_blur and saliency.Blurred is cv.Blurred
    assert saliency_path.pointing_game is ev.pointing_game and baselines.mask_mass is ev.mask_mass


def test_directions_are_read_in_one_place():
    assert ev.higher_is_better("pointing_game") is True and ev.higher_is_better("deletion_auc") is False
    assert ev.higher_is_better("randomisation_top") is False and ev.higher_is_better("randomisation_all") is False
    assert ev.higher_is_better("ms_per_image") is False and ev.higher_is_better("mass_marker") is None


def test_the_pointing_game_sums_channels_and_keeps_an_empty_batch():
    maps = torch.zeros(2, 3, 4, 4)
    maps[0, 1, 1, 1] = 1.0
    maps[1, 2, 3, 3] = 1.0
    masks = torch.zeros(2, 1, 4, 4)
    masks[:, 0, 1, 1] = 1
    assert ev.pointing_game(maps, masks).tolist() == [1.0, 0.0]
    assert ev.pointing_game(maps[:0], masks[:0]).shape == (0,)


def test_multiple_explanations_check_the_target_range():
    from caelib import responsibility as rsp

    box = rsp.TwoSquares()
    with pytest.raises(ValueError, match="outside the black box's classes"):
        rsp.explain_multiple(box, box.image(), target=5, progress=False)
