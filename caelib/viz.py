"""Figures (matplotlib). Functions take an optional ``ax`` where one panel suffices and return the figure.

Compute lives in the stage modules (``swap``, ``manifold``, ``paths``); the figures only draw. Import them from here
(``caelib.viz.X``); each is written in the module of what it draws, in the order the notebooks teach it:

- ``viz_panels``: the parts the figures share (images, outlines, colour bars, class colours, probability bars)
- ``viz_data``: the data, the black box and the CAE's training curves (notebooks 01 and 02)
- ``viz_codes``: swapping codes and the class-code manifold (notebooks 02 to 04)
- ``viz_paths``: guided counterfactual paths (notebook 05)
- ``viz_saliency``: saliency maps side by side and the metrics that score them (notebooks 05, 06, 08, 10)
- ``viz_explanations``: counterfactual baselines, several explanations, misclassifications (notebooks 07 to 09)
"""

from __future__ import annotations

from .viz_codes import _title_swap_columns as _title_swap_columns
from .viz_codes import (
    plot_decision_map,
    plot_embedding,
    plot_manifold_explorer,
    plot_strip,
    plot_swap_changes,
    plot_swap_confusion,
    plot_swap_explorer,
    plot_swap_grid,
    swap_strip,
)
from .viz_data import plot_confusion, plot_history, show_dataset
from .viz_explanations import _map_panel as _map_panel
from .viz_explanations import _misclass_legend as _misclass_legend
from .viz_explanations import (
    plot_baselines,
    plot_change_summary,
    plot_counterfactual_changes,
    plot_counterfactuals,
    plot_explanations,
    plot_misclass_step,
)
from .viz_panels import _MARKERS as _MARKERS
from .viz_panels import _class_colours as _class_colours
from .viz_panels import _contour as _contour
from .viz_panels import _imshow as _imshow
from .viz_panels import add_colourbar, add_side_colourbar, plot_probabilities, show_images
from .viz_paths import plot_path, plot_path_frame, plot_path_probabilities, plot_routes
from .viz_saliency import (
    plot_deletion_insertion,
    plot_mask_roc,
    plot_metric_bars,
    plot_pointing_game,
    plot_randomisation,
    plot_saliency_grid,
    plot_topk,
)

# private helpers imported above as themselves stay importable here (``_class_colours``: diagrams, tests)
__all__ = [
    # the parts the figures share
    "show_images", "add_colourbar", "add_side_colourbar", "plot_probabilities",
    # data, black box, training (01, 02)
    "show_dataset", "plot_confusion", "plot_history",
    # swaps and the class-code manifold (02 to 04)
    "swap_strip", "plot_swap_grid", "plot_swap_confusion", "plot_swap_changes", "plot_swap_explorer",
    "plot_embedding", "plot_decision_map", "plot_strip", "plot_manifold_explorer",
    # counterfactual paths (05)
    "plot_path_probabilities", "plot_path_frame", "plot_path", "plot_routes",
    # saliency maps and their metrics (05, 06, 08, 10)
    "plot_saliency_grid", "plot_pointing_game", "plot_mask_roc", "plot_topk", "plot_metric_bars",
    "plot_deletion_insertion", "plot_randomisation",
    # baselines, several explanations, misclassifications (07 to 09)
    "plot_baselines", "plot_counterfactual_changes", "plot_explanations", "plot_counterfactuals",
    "plot_change_summary", "plot_misclass_step",
]
