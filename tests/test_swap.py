"""Swap grids, difference maps, the confusion over swaps, and clear errors for mismatched donors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from caelib import swap
from caelib.cae import CAE, CAEConfig

TINY = CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=3, disc_width=4)


@pytest.fixture(scope="module")
def cae():
    torch.manual_seed(0)
    return CAE(TINY).eval()


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def classifier() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3)).eval()


def test_swap_grid_holds_every_combination(cae):
    x_indiv, x_class = images(5, seed=1), images(3, seed=2)
    grid = swap.swap_grid(cae, x_indiv, x_class)
    assert grid.shape == (3, 5, 1, 16, 16)
    # cell [r, c] = individual code of x_indiv[c] with the class code of x_class[r]
    for r in range(3):
        expected = swap.swap(cae, x_indiv, x_class[r:r + 1].expand(5, -1, -1, -1))
        assert torch.allclose(grid[r], expected, atol=1e-5)


def test_swap_grid_diagonal_of_an_image_with_itself_is_its_reconstruction(cae):
    x = images(4)
    grid = swap.swap_grid(cae, x, x)
    with torch.no_grad():
        assert torch.allclose(grid.diagonal(dim1=0, dim2=1).permute(3, 0, 1, 2), cae.reconstruct(x), atol=1e-5)
        assert not torch.equal(grid[0, 1], grid[1, 1])  # another class code changes the image


def test_difference_map_is_zero_for_a_swap_with_itself(cae):
    x = images(4)
    result = swap.explain_swap(cae, classifier(), x, x)
    assert result.change.shape == (4, 1, 16, 16)
    assert float(result.change.abs().max()) == 0.0                     # swap with itself = reconstruction
    assert torch.allclose(result.change_vs_input, swap.difference_map(result.reconstruction, x))
    assert torch.allclose(result.probs.sum(1), torch.ones(4), atol=1e-5)


def test_difference_map_of_another_class_code_is_positive(cae):
    x = images(4)
    result = swap.explain_swap(cae, classifier(), x, x.flip(0))
    assert result.change.min() >= 0 and result.change.mean() > 0
    assert torch.allclose(result.swap, swap.swap(cae, x, x.flip(0)), atol=1e-6)


def test_difference_map_values():
    a = torch.zeros(2, 3, 4, 4)
    b = a.clone()
    b[0, :, 1, 2] = torch.tensor([0.3, -0.6, 0.9])
    d = swap.difference_map(a, b)
    assert d.shape == (2, 1, 4, 4)
    assert torch.isclose(d[0, 0, 1, 2], torch.tensor(0.6)) and d.sum() == d[0, 0, 1, 2]
    with pytest.raises(ValueError, match="same shape"):
        swap.difference_map(a, b[:1])


def test_donor_batch_of_another_length_is_a_clear_error(cae):
    with pytest.raises(ValueError, match="3 individual-code donors and 2 class-code donors"):
        swap.swap(cae, images(3), images(2))
    with pytest.raises(ValueError, match="class-code donors"):
        swap.explain_swap(cae, classifier(), images(3), images(2))
    assert swap.swap_grid(cae, images(3), images(2)).shape[:2] == (2, 3)  # a grid takes any two lengths


def test_images_of_different_sizes_are_a_clear_error(cae):
    small, big = images(2), torch.zeros(2, 1, 32, 32)
    for call in (lambda: swap.swap(cae, small, big), lambda: swap.swap_grid(cae, small, big[:1]),
                 lambda: swap.explain_swap(cae, classifier(), small, big)):
        with pytest.raises(ValueError, match="different sizes"):
            call()
    with pytest.raises(ValueError, match="unsqueeze"):
        swap.swap_grid(cae, small[0], small)


def test_swap_confusion_matrix_known_answer():
    k = 3
    conf = np.zeros((k, k, k))
    for a in range(k):
        for b in range(k):
            conf[a, b, b if a != b else a] = 1.0     # a perfect CAE: every cross-class swap flips
    conf[0, 1] = [0.5, 0.5, 0.0]                   # ... except half of the swaps 0 -> 1
    m = swap.swap_confusion_matrix(conf)
    assert np.allclose(m.sum(1), 1)
    assert np.isclose(m[1, 1], 0.75) and np.isclose(m[1, 0], 0.25) and np.isclose(m[2, 2], 1)
    assert np.isclose(np.diag(m).mean(), swap.flip_rates(conf)["mean"])  # the diagonal holds the flip rates
    conf[1, 1] = [1.0, 0, 0]                       # a same-class swap gone wrong counts only when asked
    assert np.isclose(swap.swap_confusion_matrix(conf)[1, 1], 0.75)
    assert np.isclose(swap.swap_confusion_matrix(conf, include_same_class=True)[1, 1], 0.5)


def test_swap_confusion_rows_sum_to_one(cae):
    x, y = images(30), torch.arange(30) % 3
    conf = swap.swap_confusion(cae, classifier(), x, y, n_per_pair=5)
    m = swap.swap_confusion_matrix(conf)
    assert m.shape == (3, 3) and np.allclose(m.sum(1), 1)
