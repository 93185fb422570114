"""caelib.results: results as real (HTML) tables; the figures of notebooks 06-09 keep their colour bars and legends."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from caelib import results  # noqa: E402


def test_scores_table_is_an_html_table_with_directions_best_in_bold_and_intervals_as_tooltips():
    g = torch.Generator().manual_seed(0)
    rows = {("ig", "blurred"): {"pointing_game": torch.ones(8), "deletion_auc": torch.rand(8, generator=g) + 1},
            ("ig", "zero"): {"pointing_game": torch.zeros(8), "deletion_auc": torch.rand(8, generator=g)}}
    styler = results.scores_table(rows, caption="live")
    frame = styler.data
    assert list(frame.columns) == ["pointing game ↑", "deletion AUC ↓"]
    assert list(frame.index) == ["ig · blurred", "ig · zero"] and frame.index.name == "method · baseline"
    html = styler.to_html()
    assert "<table" in html and "95% interval" in html and "live" in html
    assert "|" not in "".join(frame.columns)          # no pipes: a header never splits into extra columns
    assert html.count("font-weight: bold") >= 1


def test_benchmark_tables_read_the_stored_csv():
    if not (results.RESULTS / "saliency.csv").exists():
        pytest.skip("benchmarks/results/saliency.csv is not there")
    styler = results.benchmark_table("saliency.csv", row=("method", "family"), dataset="lesions")
    assert "pointing game ↑" in styler.data.columns and len(styler.data) > 5
    means = results.benchmark_means("saliency.csv", dataset="lesions")
    v = results.benchmark_value("saliency.csv", dataset="lesions", method="random", metric="mask_auroc")
    assert means["random", "mask_auroc"] == v and 0.3 < v < 0.7
    best = results.best_table(means, {"a": ["random"], "b": ["centre"]})
    assert list(best.data.columns) == ["a", "b"]
    with pytest.raises(ValueError, match="no rows"):
        results.benchmark_rows("saliency.csv", dataset="no-such-dataset")


def test_the_notebook_figures_have_colour_bars_and_legends():
    from caelib import baselines as bl
    from caelib import evaluate as ev
    from caelib import viz

    g = torch.Generator().manual_seed(0)
    maps = {"a": torch.rand(2, 1, 16, 16, generator=g), "b": torch.rand(2, 1, 16, 16, generator=g)}
    masks = torch.zeros(2, 1, 16, 16)
    masks[:, :, 4:8, 4:8] = 1
    fig = viz.plot_pointing_game(maps, masks)
    assert len(fig.axes) == 2 + 2 and fig.axes[0].get_legend() is not None     # a colour bar per map
    fig = viz.plot_topk(maps, masks)
    assert fig.axes[0].get_legend() is not None
    curve = ev.Curve(torch.linspace(0, 1, 5), torch.rand(2, 5, generator=g))
    fig = viz.plot_deletion_insertion({"a": curve}, {"a": curve}, zoom=0.2)
    assert fig.axes[0].get_xlim()[1] == pytest.approx(0.2)
    x = torch.rand(2, 1, 16, 16, generator=g) * 2 - 1
    fig = bl.plot_baselines(x, {"zero": torch.zeros_like(x)}, maps={"zero": maps["a"]})
    assert len(fig.axes) == 2 * 2 * 2 + 2                                        # + a colour bar per map row
    fig = bl.plot_counterfactual_changes(x, {"cae": maps["a"]}, masks={"red": masks}, mask_labels={"red": "marker"})
    assert len(fig.axes) == 2 * 2 + 1 and fig.legends
    for ax in fig.axes:
        for text in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]:
            if text.get_text():
                assert text.get_fontsize() >= 8, text.get_text()
