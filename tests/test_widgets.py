"""The figures of notebooks 03 and 04 and the explorer widgets that show them, drawn without a browser.

Widgets hold no logic: each test checks that a control's value reaches the drawing and that the drawing
shows the computed numbers (titles, bar heights, the starred point), on a tiny untrained CAE.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from caelib import manifold, swap, viz, widgets  # noqa: E402
from caelib.cae import CAE, CAEConfig  # noqa: E402

TINY = CAEConfig(image_size=16, width=4, n_res=1, mlp_dim=16, class_dim=4, num_classes=3, disc_width=4)
NAMES = ("zero", "one", "two")


@pytest.fixture(scope="module")
def cae():
    torch.manual_seed(0)
    return CAE(TINY).eval()


@pytest.fixture(scope="module")
def clf():
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3)).eval()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def data(n: int = 9, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 16, 16, generator=g) * 2 - 1
    masks = torch.zeros(n, 1, 16, 16)
    masks[:, :, 4:9, 4:9] = 1
    return x, torch.arange(n) % 3, masks


def colour_bars(fig) -> list:
    """The colour bars of ``fig``, beside a panel or inset at its edge."""
    return [a for ax in fig.axes for a in (ax, *ax.child_axes) if a.get_label() == "<colorbar>"]


def bar_heights(ax) -> list[float]:
    return [p.get_height() for p in ax.patches]


# ---- swap figures (notebook 03) -----------------------------------------------------------------------

def test_plot_swap_grid_layout_and_decision_titles(cae, clf):
    x, y, _ = data()
    grid = swap.swap_grid(cae, x[:4], x[4:6])                                 # (2, 4, 1, 16, 16)
    probs = caelib_probs(clf, grid)
    fig = viz.plot_swap_grid(x[:4], x[4:6], grid, probs=probs, class_names=NAMES, class_labels=y[4:6])
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 5                 # (M + 1) x (N + 1) panels
    titles = [ax.get_title() for ax in fig.axes[6:] if ax.get_title()]
    expected = [NAMES[int(p.argmax())] for p in probs.reshape(-1, 3)]
    assert titles == expected


def caelib_probs(clf, grid):
    from caelib.classifier import predict_proba

    m, n = grid.shape[:2]
    return predict_proba(clf, grid.reshape(m * n, *grid.shape[2:])).reshape(m, n, -1)


def test_plot_swap_confusion_shows_the_matrix():
    m = np.array([[0.8, 0.2, 0.0], [0.1, 0.7, 0.2], [0.0, 0.0, 1.0]])
    fig = viz.plot_swap_confusion(m, NAMES, title="swaps")
    ax = fig.axes[0]
    assert "class-code donor" in ax.get_ylabel() and "decision" in ax.get_xlabel()
    assert np.allclose(ax.images[0].get_array(), m)


def test_plot_swap_changes_draws_the_change_and_the_masks(cae, clf):
    x, y, masks = data()
    result = swap.explain_swap(cae, clf, x[:3], x[3:6].flip(0))
    fig = viz.plot_swap_changes(x[:3], x[3:6].flip(0), result, masks_indiv=masks[:3], masks_class=masks[3:6],
                                class_names=NAMES, labels_indiv=y[:3], labels_class=y[3:6].flip(0))
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4 * 3 and len(colour_bars(fig)) == 1                 # one colour bar for the changes
    change_axes = panels[9:]
    assert np.allclose(change_axes[0].images[0].get_array(), result.change[0, 0].numpy())
    assert all(len(ax.collections) >= 2 for ax in change_axes)                # two mask outlines each
    assert panels[6].get_title() == f"says {NAMES[int(result.probs[0].argmax())]}"
    assert panels[0].get_title() == NAMES[int(y[0])] and panels[3].get_title() == NAMES[int(y[3:6].flip(0)[0])]


def test_plot_probabilities_bars_and_highlight():
    fig = viz.plot_probabilities(torch.tensor([0.2, 0.5, 0.3]), NAMES, highlight=2)
    ax = fig.axes[0]
    assert bar_heights(ax) == pytest.approx([0.2, 0.5, 0.3])
    assert ax.patches[2].get_linewidth() == 2 and ax.patches[0].get_linewidth() != 2


# ---- manifold figures (notebook 04) -------------------------------------------------------------------

def test_plot_embedding_by_class_by_value_and_misclassified():
    pts, labels = torch.randn(30, 2, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 3
    wrong = np.zeros(30, bool)
    wrong[:4] = True
    fig = viz.plot_embedding(pts, labels, NAMES, misclassified=wrong)
    ax = fig.axes[0]
    assert len(ax.collections) == 3 + 1                                       # one per class + the crosses
    assert ax.collections[-1].get_offsets().shape == (4, 2)
    assert "misclassified (4)" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig = viz.plot_embedding(pts, labels, NAMES, values=np.linspace(0, 1, 30))
    assert len(fig.axes) == 2                                                 # the scatter and its colour bar


def test_plot_decision_map_colours_cells_by_decision():
    probs = torch.zeros(2, 3, 3)
    probs[..., 0], probs[:, 2] = 1.0, torch.tensor([0.0, 0.0, 1.0])           # class 0, last column class 2
    dmap = manifold.DecisionMap(xs=torch.tensor([0.0, 1, 2]), ys=torch.tensor([0.0, 1]), probs=probs,
                                images=torch.zeros(2, 3, 1, 4, 4))
    fig = viz.plot_decision_map(dmap, NAMES, marker=(1.0, 0.5))
    ax = fig.axes[0]
    rgb = ax.images[0].get_array()
    colours = np.array(viz._class_colours(3))[:, :3]
    assert np.allclose(rgb[0, 0], colours[0]) and np.allclose(rgb[1, 2], colours[2])   # sure cells: full colour
    assert ax.images[0].get_extent() == pytest.approx([-0.5, 2.5, -0.5, 1.5])
    assert ax.lines[0].get_xydata().tolist() == [[1.0, 0.5]]


def test_plot_strip_titles_say_the_decision():
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    fig = viz.plot_strip(torch.zeros(2, 1, 4, 4), probs, NAMES, positions=[-1.0, 1.0])
    assert [ax.get_title() for ax in fig.axes] == ["zero 0.90", "two 0.50"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["-1.0", "1.0"]


# ---- the explorers -------------------------------------------------------------------------------------

def test_swap_explorer_draws_the_chosen_pair(cae, clf):
    x, y, masks = data()
    ex = widgets.SwapExplorer(cae, clf, x, y, NAMES, masks=masks)
    assert ex.indiv.value == 0 and y[ex.klass.value] != y[0]                 # starts on a cross-class pair
    fig = ex.draw(2, 4)
    assert isinstance(fig, Figure)
    expected = swap.explain_swap(cae, clf, x[2:3], x[4:5])
    img_axes = fig.axes
    assert np.allclose(img_axes[3].images[0].get_array(), expected.change_vs_input[0, 0].numpy(), atol=1e-6)
    assert bar_heights(img_axes[4]) == pytest.approx(expected.probs[0].tolist(), abs=1e-6)
    assert img_axes[0].get_title() == f"individual code ({NAMES[2]})"
    assert img_axes[1].get_title() == f"class code ({NAMES[1]})"
    assert len(img_axes[3].collections) >= 1                                   # the donor's mask outline


def test_swap_explorer_controls_call_draw(cae, clf, monkeypatch):
    x, y, _ = data()
    ex = widgets.SwapExplorer(cae, clf, x, y, NAMES, seed=3)
    calls = []
    monkeypatch.setattr(ex, "draw", lambda i, j: calls.append((i, j)) or plt.figure())
    ex.indiv.value = 5
    assert calls == [(5, ex.klass.value)]
    ex.pick_random()
    assert len(calls) == 2                                                     # one draw for a new pair
    i, j = calls[-1]
    assert (i, j) == (ex.indiv.value, ex.klass.value) and y[i] != y[j]


@pytest.fixture(scope="module")
def manifold_explorer(cae, clf):
    x, y, _ = data(12)
    codes, _ = swap.encode_all(cae, x)
    plane = manifold.fit_plane(codes)
    return widgets.ManifoldExplorer(cae, clf, x[:3], y[:3], NAMES, plane, plane.project(codes), y, grid=5)


def test_manifold_explorer_sliders_span_the_map(manifold_explorer):
    ex = manifold_explorer
    assert (ex.x.min, ex.x.max) == pytest.approx((float(ex.xs[0]), float(ex.xs[-1])))
    assert (ex.y.min, ex.y.max) == pytest.approx((float(ex.ys[0]), float(ex.ys[-1])))
    assert ex.points[:, 0].min() > ex.x.min and ex.points[:, 1].max() < ex.y.max


def test_manifold_explorer_draws_the_point(manifold_explorer, cae, clf):
    ex = manifold_explorer
    x, y = float(ex.xs[1]), float(ex.ys[3])
    fig = ex.draw(1, x, y)
    image, probs = manifold.decode_points(cae, clf, ex.indiv_codes[1], ex.plane, torch.tensor([[x, y]]))
    map_ax, image_ax, bar_ax = fig.axes[:3]
    assert np.allclose(map_ax.lines[0].get_xydata(), [[x, y]])                  # the star
    assert bar_heights(bar_ax) == pytest.approx(probs[0].tolist(), abs=1e-6)
    # the decision map is that of image 1's individual code, and at a grid point the decoded image is its cell
    dmap = ex.decision_map(1)
    assert ex.decision_map(1) is dmap                                           # computed once
    assert torch.allclose(dmap.images[3, 1], image[0], atol=1e-5)
    shown = image_ax.images[0].get_array()
    assert np.allclose(shown, (image[0, 0].numpy() + 1) / 2, atol=1e-6)


def test_manifold_explorer_controls_call_draw(manifold_explorer, monkeypatch):
    ex = manifold_explorer
    calls = []
    monkeypatch.setattr(ex, "draw", lambda i, x, y: calls.append((i, x, y)) or plt.figure())
    ex.x.value = float(ex.xs[2])
    ex.indiv.value = 2
    assert [c[0] for c in calls] == [0, 2] and calls[-1][1] == pytest.approx(float(ex.xs[2]), abs=ex.x.step)


def test_explorers_show_their_static_figure_below_the_widget(cae, clf, manifold_explorer, monkeypatch):
    """Exported HTML and print keep no live widget: displaying an explorer also shows its ``draw()`` as a figure."""
    import IPython.display

    x, y, masks = data()
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    for explorer in (widgets.SwapExplorer(cae, clf, x, y, NAMES, masks=masks), manifold_explorer):
        shown.clear()
        explorer._ipython_display_()
        assert shown[0] is explorer.widget and isinstance(shown[-1], Figure), shown
        explorer.static = False
        shown.clear()
        explorer._ipython_display_()
        assert shown == [explorer.widget]


def test_figures_use_readable_fonts_and_a_colour_bar_on_every_map(cae, clf):
    from matplotlib.text import Text

    x, y, masks = data()
    result = swap.explain_swap(cae, clf, x[:3], x[3:6])
    maps = [viz.plot_swap_changes(x[:3], x[3:6], result, masks_indiv=masks[:3], class_names=NAMES,
                                  labels_indiv=y[:3], labels_class=y[3:6]),
            viz.plot_confusion(np.eye(3), NAMES), widgets.SwapExplorer(cae, clf, x, y, NAMES, masks=masks).draw(0, 1),
            viz.plot_saliency_grid(x[:3], {"a": x[:3].abs(), "b": x[3:6].abs()}, masks=masks[:3])]
    strip = viz.swap_strip(cae, x[:3], x[3:6], class_names=NAMES, labels_indiv=y[:3], labels_class=y[3:6],
                           classifier=clf)
    for fig in maps + [strip]:
        small = {(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text) if t.get_text().strip()
                 and t.get_fontsize() < 8}
        assert not small, small
    for fig in maps:
        assert colour_bars(fig)
    said = [ax.get_title() for ax in strip.axes[6:9]]                         # the swaps: the black box's decision
    assert all(t.startswith("says ") for t in said) and strip.axes[0].get_title() == NAMES[int(y[0])]
