"""``caelib.diagrams.idea``: the small schematic figure at the top of every notebook."""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from caelib import diagrams  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_every_notebook_stage_has_a_diagram():
    assert diagrams.STAGES == ("data", "encoding", "swap", "manifold", "path", "saliency", "baselines", "multiple",
                               "misclass", "own-data")
    for stage in diagrams.STAGES:
        assert f'``"{stage}"``' in diagrams.__doc__, f"the module docstring does not say what {stage!r} shows"


@pytest.mark.parametrize("stage", diagrams.STAGES)
def test_idea_draws_a_readable_figure_quickly(stage):
    diagrams.idea(stage)                                   # warm: models and data load once per process
    plt.close("all")
    t0 = time.perf_counter()
    fig = diagrams.idea(stage)
    elapsed = time.perf_counter() - t0
    assert isinstance(fig, Figure)
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert texts, "a diagram says what it shows"
    small = sorted({(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < diagrams.FONT})
    assert not small, f"text below {diagrams.FONT} pt: {small[:5]}"
    assert any(t.get_text().startswith(("0", "1")) and "·" in t.get_text() for t in texts), "titled with its notebook"
    fig.canvas.draw()                                      # renders without errors
    assert elapsed < 15, f"{stage}: {elapsed:.1f} s (should take about a second on an idle CPU)"


def test_unknown_stage_names_the_stages():
    with pytest.raises(ValueError, match="stages: data, encoding"):
        diagrams.idea("swapping")


def test_a_diagram_leaves_the_notebooks_seed_alone() -> None:
    import matplotlib.pyplot as plt

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    plt.close(diagrams.idea("swap"))
    assert torch.equal(torch.rand(3), expected)
