"""Explorer widgets (ipywidgets): controls wired to the compute functions of the stage modules and the
figures of ``caelib.viz``, nothing more.

Each explorer is an ``Explorer``: it exposes ``draw(...) -> Figure``, the exact drawing its callback shows, so
that it can be tested (and used in a static page) without a browser; ``explorer.widget`` is the ipywidgets box
and a bare ``explorer`` at the end of a cell displays it, with its current view below it as a static figure
(so that exported HTML and printed handouts show the explorer too; ``explorer.static = False`` leaves it out).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from . import manifold, swap, viz
from .cae import CAE
from .conventions import Classifier


def _check_choice(images, labels, class_names: Sequence[str], explorer: str, cae=None) -> None:
    """A clear ``ValueError`` for images / labels / class names an explorer cannot offer as choices."""
    from .data import check_images

    check_images(images, what=f"{explorer}'s images")
    if len(images) == 0:
        raise ValueError(f"{explorer} needs at least one image to choose from; got an empty batch "
                         f"{tuple(images.shape)}")
    if hasattr(cae, "check"):
        cae.check(images[:1], what=f"{explorer}'s images")
    labels = torch.as_tensor(labels)
    if labels.shape != (len(images),) or labels.is_floating_point():
        raise ValueError(f"{explorer} needs one whole-number label per image: {len(images)} images, got labels of "
                         f"shape {tuple(labels.shape)} ({labels.dtype})")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise ValueError(f"{explorer}: labels run to {int(labels.max())} but class_names has {len(class_names)} "
                         f"name(s) {list(class_names)}; pass one name per class, in the classes' order")


def _options(labels: torch.Tensor, class_names: Sequence[str]) -> list[tuple[str, int]]:
    return [(f"#{i} ({class_names[int(y)]})", i) for i, y in enumerate(labels)]


def _show(out, fig) -> None:
    """Replace what the ``Output`` widget ``out`` shows with ``fig``, and free the figure."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    with out:
        out.clear_output(wait=True)
        display(fig)
    plt.close(fig)


def _display_with_static(widget, draw: Callable[[], object], static: bool = True) -> None:
    """Show the live ``widget`` and, below it, the figure ``draw()`` returns as a static image. Exported HTML
    (nbconvert, the course site) and printed handouts keep no live widget, so without the copy they would show
    nothing of the explorer. ``explorer.static = False`` shows the widget alone."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display

    display(widget)
    if not static:
        return
    try:
        fig = draw()
    except ValueError:                        # a choice without a figure: the widget says why
        return
    display(HTML("<small>The explorer's first view as a static figure (what exported pages and print show):"
                 "</small>"))
    display(fig)
    plt.close(fig)


class Explorer:
    """What the four explorers share: ``widget`` (the ipywidgets box, built by the subclass with an ``Output``
    ``out``), ``draw(...)`` (the figure for given choices) and ``current()`` (the figure of the controls' current
    choices, what the widget shows: ``draw()`` with the controls' values). ``update`` redraws it into ``out``
    (the controls' callback); displaying the explorer shows the widget with ``current()`` below it as a static
    figure, unless ``static`` is False."""

    static = True   # show current() below the widget as a static figure (exported HTML, print)

    def current(self):
        """The figure the widget shows now."""
        return self.draw()

    def update(self, _=None) -> None:
        """Redraw the current figure into the widget's output (the controls' callback)."""
        _show(self.out, self.current())

    def _ipython_display_(self):
        _display_with_static(self.widget, self.current, self.static)


# ---- code swapping (notebook 03) ---------------------------------------------------------------------

class SwapExplorer(Explorer):
    """Pick an individual-code donor and a class-code donor among ``images`` (N, C, H, W) in [-1, 1]
    (dropdowns, or "random" for a random cross-class pair) and see the swap, its difference to the
    individual-code donor and the black box's probabilities (``viz.plot_swap_explorer``). Notebook 03."""

    def __init__(self, cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor,
                 class_names: Sequence[str], *, masks: torch.Tensor | None = None, seed: int = 0):
        import ipywidgets as W

        _check_choice(images, labels, class_names, "SwapExplorer", cae)
        self.cae, self.classifier, self.class_names = cae, classifier, list(class_names)
        self.images, self.labels, self.masks = images, labels, masks
        self._rng = np.random.default_rng(seed)
        options = _options(labels, class_names)
        first_other = int((labels != labels[0]).nonzero().flatten()[0]) if (labels != labels[0]).any() else 0
        style = {"description_width": "initial"}
        self.indiv = W.Dropdown(options=options, value=0, description="individual code from", style=style)
        self.klass = W.Dropdown(options=options, value=first_other, description="class code from", style=style)
        self.random = W.Button(description="random pair", icon="random")
        self.out = W.Output()
        self.indiv.observe(self.update, names="value")
        self.klass.observe(self.update, names="value")
        self.random.on_click(self.pick_random)
        self.widget = W.VBox([W.HBox([self.indiv, self.klass, self.random]), self.out])
        self.update()

    def draw(self, i_indiv: int, i_class: int):
        """The figure for individual-code donor ``images[i_indiv]`` and class-code donor ``images[i_class]``."""
        sl_i, sl_c = slice(i_indiv, i_indiv + 1), slice(i_class, i_class + 1)
        result = swap.explain_swap(self.cae, self.classifier, self.images[sl_i], self.images[sl_c])
        return viz.plot_swap_explorer(self.images[sl_i], self.images[sl_c], result, self.class_names,
                                      label_indiv=int(self.labels[i_indiv]), label_class=int(self.labels[i_class]),
                                      mask=None if self.masks is None else self.masks[i_indiv])

    def pick_random(self, _=None) -> None:
        """Set both dropdowns to a random pair of images of different classes (when there are two)."""
        i = int(self._rng.integers(len(self.labels)))
        others = (self.labels != self.labels[i]).nonzero().flatten()
        j = int(others[self._rng.integers(len(others))]) if len(others) else i
        for control in (self.indiv, self.klass):      # set both, then draw once
            control.unobserve(self.update, names="value")
        self.indiv.value, self.klass.value = i, j
        for control in (self.indiv, self.klass):
            control.observe(self.update, names="value")
        self.update()

    def current(self):
        return self.draw(self.indiv.value, self.klass.value)


# ---- the class-code manifold (notebook 04) ------------------------------------------------------------

class ManifoldExplorer(Explorer):
    """Move a point over the PCA plane of the class codes (two sliders) and see the image decoded there
    with the individual code of a chosen image (dropdown) and the black box's probabilities, on top of
    that image's decision map (``manifold.decision_map``, ``viz.plot_manifold_explorer``). Notebook 04.

    ``plane`` from ``manifold.fit_plane``; ``points`` (M, 2) / ``point_labels`` (M,) are the projected
    class codes of real images drawn on the map (and fix its extent)."""

    def __init__(self, cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor,
                 class_names: Sequence[str], plane: manifold.Plane, points: torch.Tensor,
                 point_labels: torch.Tensor, *, grid: int = 21):
        import ipywidgets as W

        _check_choice(images, labels, class_names, "ManifoldExplorer", cae)
        if not isinstance(grid, int) or grid < 2:
            raise ValueError(f"ManifoldExplorer: grid must be a whole number >= 2 (points per side), got {grid!r}")
        if len(points) == 0 or torch.as_tensor(points).ndim != 2 or len(point_labels) != len(points):
            raise ValueError(f"ManifoldExplorer needs projected class codes points (M, 2) with M >= 1 and one "
                             f"point_label each, got points {tuple(torch.as_tensor(points).shape)} and "
                             f"{len(point_labels)} label(s)")
        self.cae, self.classifier, self.class_names, self.plane = cae, classifier, list(class_names), plane
        self.images, self.points, self.point_labels = images, points, point_labels
        _, self.indiv_codes = swap.encode_all(cae, images)
        self.xs, self.ys = manifold.grid_axes(points, grid)
        self._maps: dict[int, manifold.DecisionMap] = {}   # decision maps already computed, by image
        style = {"description_width": "initial"}

        def slider(axis, name):
            return W.FloatSlider(value=0.0, min=float(axis[0]), max=float(axis[-1]),
                                 step=float(axis[-1] - axis[0]) / 100, description=name, continuous_update=False)
        self.indiv = W.Dropdown(options=_options(labels, class_names), value=0, description="individual code from",
                                style=style)
        self.x, self.y = slider(self.xs, "PC 1"), slider(self.ys, "PC 2")
        self.out = W.Output()
        for control in (self.indiv, self.x, self.y):
            control.observe(self.update, names="value")
        self.widget = W.VBox([W.HBox([self.indiv]), W.HBox([self.x, self.y]), self.out])
        self.update()

    def decision_map(self, i_indiv: int) -> manifold.DecisionMap:
        """The decision map of image ``i_indiv``'s individual code (computed once, then kept)."""
        if i_indiv not in self._maps:
            self._maps[i_indiv] = manifold.decision_map(self.cae, self.classifier, self.indiv_codes[i_indiv],
                                                        self.plane, self.xs, self.ys)
        return self._maps[i_indiv]

    def draw(self, i_indiv: int, x: float, y: float):
        """The figure for the point (x, y) of the plane, decoded with image ``i_indiv``'s individual code."""
        image, probs = manifold.decode_points(self.cae, self.classifier, self.indiv_codes[i_indiv], self.plane,
                                              torch.tensor([[x, y]]))
        return viz.plot_manifold_explorer(self.decision_map(i_indiv), image, probs[0], (x, y), self.class_names,
                                          points=self.points, labels=self.point_labels)

    def current(self):
        return self.draw(self.indiv.value, self.x.value, self.y.value)


# ---- guided counterfactual paths (notebook 05) -------------------------------------------------------

class PathExplorer(Explorer):
    """Choose an image among ``images`` (N, C, H, W) in [-1, 1], the target class, the reference rule and
    the route (dropdowns); a slider moves along the counterfactual path and shows the decoded frame, its
    difference to the original and the probability curve with the flip (``viz.plot_path_frame``).

    ``references`` {name: rule} (e.g. ``{"medoid": paths.MedoidReference(bank)}``) and ``routes`` {name:
    route} (e.g. ``{"straight": paths.StraightRoute(), "graph": paths.GraphRoute(bank)}``). Each path is
    computed once per choice (``paths.counterfactual_path`` with ``stop_at_flip=False``) and kept; the
    slider only picks a frame of it. Notebook 05."""

    def __init__(self, cae: CAE, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor,
                 class_names: Sequence[str], *, references: dict, routes: dict, masks: torch.Tensor | None = None,
                 steps: int = 21):
        import ipywidgets as W

        _check_choice(images, labels, class_names, "PathExplorer", cae)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"PathExplorer: steps must be a whole number >= 2 (both ends of a path), got {steps!r}")
        if not references or not routes:
            raise ValueError("PathExplorer needs at least one reference rule and one route, e.g. references="
                             "{'medoid': paths.MedoidReference(bank)}, routes={'straight': paths.StraightRoute()}")
        self.cae, self.classifier, self.class_names = cae, classifier, list(class_names)
        self.images, self.labels, self.masks = images, labels, masks
        self.references, self.routes, self.steps = dict(references), dict(routes), steps
        self._cache: dict[tuple, object] = {}     # (image, target, reference, route) -> CounterfactualPath
        style = {"description_width": "initial"}
        self.image = W.Dropdown(options=_options(labels, class_names), value=0, description="image", style=style)
        targets = [("most likely other class", -1)] + [(n, k) for k, n in enumerate(class_names)]
        self.target = W.Dropdown(options=targets, value=-1, description="target", style=style)
        self.reference = W.Dropdown(options=list(self.references), description="reference", style=style)
        self.route = W.Dropdown(options=list(self.routes), description="route", style=style)
        self.step = W.IntSlider(value=0, min=0, max=steps - 1, description="step", continuous_update=True)
        self.message = W.HTML()
        self.out = W.Output()
        for control in (self.image, self.target, self.reference, self.route):
            control.observe(self.choose, names="value")
        self.step.observe(self.update, names="value")
        self.widget = W.VBox([W.HBox([self.image, self.target]), W.HBox([self.reference, self.route]),
                              self.step, self.message, self.out])
        self.choose()

    def path(self, i: int | None = None, target: int | None = None, reference: str | None = None,
             route: str | None = None):
        """The path of the current choice (or of the one given), computed on first use, then kept."""
        from .paths import counterfactual_path

        key = (self.image.value if i is None else i, self.target.value if target is None else target,
               self.reference.value if reference is None else reference, self.route.value if route is None else route)
        if key not in self._cache:
            self._cache[key] = counterfactual_path(
                self.cae, self.classifier, self.images[key[0]:key[0] + 1], None if key[1] < 0 else key[1],
                reference=self.references[key[2]], route=self.routes[key[3]], steps=self.steps, stop_at_flip=False)
        return self._cache[key]

    def draw(self, step: int | None = None):
        """The figure at ``step`` (default: the slider's) of the current path."""
        i = self.image.value
        return viz.plot_path_frame(self.path(), 0, self.step.value if step is None else step, self.class_names,
                                   mask=None if self.masks is None else self.masks[i])

    def choose(self, _=None) -> None:
        """A new choice: compute (or fetch) its path, put the slider on the flip, draw."""
        try:
            path = self.path()
        except ValueError as err:                 # e.g. a target equal to the black box's decision
            self.message.value = f"<span style='color:#b00'>{err}</span>"
            return
        flip = int(path.flip_index[0])
        self.message.value = (f"flip at step {flip} of {self.steps - 1}" if flip >= 0
                              else "the black box never reaches the target on this path")
        self.step.unobserve(self.update, names="value")
        self.step.value = max(flip, 0)
        self.step.observe(self.update, names="value")
        self.update()

    def update(self, _=None) -> None:
        key = (self.image.value, self.target.value, self.reference.value, self.route.value)
        if key in self._cache:                    # nothing to draw after a bad choice
            super().update()


# ---- why was it misclassified? (notebook 09) ---------------------------------------------------------

class MisclassExplorer(Explorer):
    """Step through the misclassified images of a ``misclass.MisclassExplanation`` (dropdown), their
    counterfactuals towards the true class (dropdown, one per reference) and the transitional images on
    the way (slider): ``viz.plot_misclass_step``. Everything is computed beforehand by
    ``misclass.explain_misclassified``; the controls only pick what to draw. ``masks`` (N, 1, H, W) of the
    images given to ``explain_misclassified`` (optional). Notebook 09."""

    def __init__(self, expl, class_names: Sequence[str], *, masks: torch.Tensor | None = None):
        import ipywidgets as W

        if len(expl) == 0:
            raise ValueError("MisclassExplorer: the explanation holds no misclassified images (the black box got "
                             "every image right); pass images it misclassifies to explain_misclassified")
        self.expl, self.class_names, self.masks = expl, list(class_names), masks
        style = {"description_width": "initial"}
        options = [(f"#{int(i)}: true {class_names[int(t)]}, black box {class_names[int(p)]}", e)
                   for e, (i, t, p) in enumerate(zip(expl.index, expl.label, expl.predicted))]
        self.image = W.Dropdown(options=options, value=0, description="misclassified image", style=style)
        self.counterfactual = W.Dropdown(options=self._cf_options(0), description="counterfactual", style=style)
        self.step = W.IntSlider(value=0, min=0, max=expl.path.steps - 1, description="step")
        self.message = W.HTML()
        self.out = W.Output()
        self.image.observe(self.choose_image, names="value")
        self.counterfactual.observe(self.choose, names="value")
        self.step.observe(self.update, names="value")
        self.widget = W.VBox([W.HBox([self.image, self.counterfactual]), self.step, self.message, self.out])
        self.choose()

    def _cf_options(self, e: int) -> list[tuple[str, int]]:
        p = self.expl.path
        return [(f"reference {r + 1}: " + (f"flip at step {int(p.flip_index[m])}" if p.flipped[m] else "no flip"),
                 int(m)) for r, m in enumerate(self.expl.paths_of(e))]

    def draw(self, m: int | None = None, step: int | None = None):
        """The figure of path ``m`` (default: the chosen counterfactual) at ``step`` (default: the slider's)."""
        m = self.counterfactual.value if m is None else m
        e = int(self.expl.path.image_index[m])
        mask = None if self.masks is None else self.masks[int(self.expl.index[e])]
        return viz.plot_misclass_step(self.expl, m, self.step.value if step is None else step, self.class_names,
                                      mask=mask)

    def choose_image(self, _=None) -> None:
        """A new image: list its counterfactuals (which triggers ``choose``)."""
        options = self._cf_options(self.image.value)
        self.counterfactual.unobserve(self.choose, names="value")
        self.counterfactual.options = options
        self.counterfactual.value = options[0][1]
        self.counterfactual.observe(self.choose, names="value")
        self.choose()

    def choose(self, _=None) -> None:
        """A new counterfactual: put the slider on its flip (the counterfactual), say what it is, draw."""
        m = self.counterfactual.value
        e = int(self.expl.path.image_index[m])
        flip = int(self.expl.path.flip_index[m])
        self.message.value = (f"{int(self.expl.n_found[e])} of {len(self.expl.paths_of(e))} counterfactuals reach "
                              f"the true class, {int(self.expl.distinct[e])} distinct; this one "
                              + (f"at step {flip}" if flip >= 0 else "never does"))
        self.step.unobserve(self.update, names="value")
        self.step.value = int(self.expl.path.end_index[m])
        self.step.observe(self.update, names="value")
        self.update()

