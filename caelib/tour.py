"""The headless tour: the whole pipeline on the default data with the shipped models, written as a report
folder (figures, ``index.md``, ``index.html``, ``metrics.json``). ``python -m caelib tour`` runs it; it is
the way to see what caelib does without Jupyter (about half a minute on a 2-core CPU).

Stages: data -> black box -> CAE (reconstructions, swaps) -> counterfactual paths -> CAE saliency, each
measured on held-out images: the black box's accuracy, the swap flip rate, the black box's accuracy on
reconstructions, the path flip rate and, where the data has evidence masks, the pointing game against two
baselines (a random pixel, the brightest pixel).
"""

from __future__ import annotations

import html
import json
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

REPORT_FILES = ("index.md", "index.html", "metrics.json")


@dataclass
class Report:
    """A report as a list of blocks, rendered to Markdown and to HTML from the same content."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def figure(self, file: str, caption: str) -> None:
        self.blocks.append(("figure", (file, caption)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "h2":
                out += [f"## {value}", ""]
            elif kind == "p":
                out += [value, ""]
            elif kind == "code":
                out += ["```", value, "```", ""]
            elif kind == "figure":
                out += [f"![{value[1]}]({value[0]})", "", f"*{value[1]}*", ""]
            else:
                header, rows = value
                out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows] + [""]
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(self.title)}</title>",
               "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.4}"
               "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
               "img{max-width:100%}figcaption{font-style:italic;font-size:.9em}"
               "pre{background:#f4f4f4;padding:.6em}</style></head><body>", f"<h1>{e(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "h2":
                out.append(f"<h2>{e(value)}</h2>")
            elif kind == "p":
                out.append(f"<p>{e(value)}</p>")
            elif kind == "code":
                out.append(f"<pre><code>{e(value)}</code></pre>")
            elif kind == "figure":
                out.append(f'<figure><img src="{e(value[0])}" alt="{e(value[1])}">'
                           f"<figcaption>{e(value[1])}</figcaption></figure>")
            else:
                header, rows = value
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{e(_cell(c))}</td>" for c in row) + "</tr>" for row in rows]
                out.append("</table>")
        return "\n".join(out + ["</body></html>", ""])


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def check_output_folder(out: str | Path, force: bool = False) -> Path:
    """The report folder: refuse (``FileExistsError``) a folder that already holds a report unless ``force``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file; pass a folder for the report with --out")
    taken = [f for f in REPORT_FILES if (out / f).exists()]
    if taken and not force:
        raise FileExistsError(f"{out} already holds a report ({', '.join(taken)}); pass another --out, or --force "
                              "to replace it")
    return out


def run_tour(out: str | Path, *, dataset: str = "lesions", n_test: int = 1000, n_bank: int = 2000,
             n_saliency: int = 200, force: bool = False, progress: bool = True, seed: int = 0) -> dict[str, Any]:
    """Run the pipeline with the shipped models of ``dataset`` (``caelib.PRETRAINED``) on ``n_test`` held-out
    images and write the report into ``out``. Returns the measured metrics (also in ``metrics.json``)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: figures go to files
    import matplotlib.pyplot as plt

    from . import paths, swap, viz
    from .classifier import evaluate_classifier, predict_proba
    from .data import brightest_pixel_hit_rate, load_dataset, stratified_indices
    from .evaluate import pointing_game
    from .pretrained import pretrained
    from .saliency_path import DEFAULT_SMOOTH, CAESaliency, Variant, path_saliency, scale_to_max

    out = check_output_folder(out, force)
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    bar = tqdm(total=6, desc="tour", disable=not progress)

    @contextmanager
    def stage(name: str):
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        yield
        seconds[name] = round(time.perf_counter() - t0, 2)
        bar.update(1)

    def save(fig, name: str) -> str:
        fig.savefig(out / name, dpi=100, bbox_inches="tight")
        plt.close(fig)
        return name

    out.mkdir(parents=True, exist_ok=True)
    rep = Report(f"caelib tour: {dataset}")
    m: dict[str, Any] = {"dataset": dataset}
    g = torch.Generator().manual_seed(seed)

    with stage("data and models"):
        models = pretrained(dataset)
        cae, classifier = models.cae.eval(), models.classifier.eval()
        train = load_dataset(dataset, "train", seed=seed, n=n_bank)
        test = load_dataset(dataset, "test", seed=seed, n=n_test)
        names = test.class_names
        rep.text("Everything here was computed just now by `python -m caelib tour` with the shipped models in "
                 f"`data/` (`caelib.pretrained({dataset!r})`) on {len(test)} held-out test images; the numbers "
                 "below are measured, not copied. Arrows say whether higher or lower is better.")
        rep.heading("1. The data")
        rep.text(f"{len(test)} test images of {len(names)} classes ({', '.join(names)}), "
                 f"{'x'.join(map(str, test.image_shape))} (C x H x W)"
                 + ("; red contours: the true evidence (ground-truth masks)." if test.masks is not None else "."))
        rep.figure(save(viz.show_dataset(test, n=8), "1_dataset.png"), "sample test images per class")

    with stage("black box"):
        ev = evaluate_classifier(classifier, test)
        m["classifier_accuracy"] = ev["accuracy"]
        rep.heading("2. The black box")
        rep.text(f"A small CNN (caelib.SmallCNN). Test accuracy {ev['accuracy']:.3f}.")
        rep.figure(save(viz.plot_confusion(ev["confusion"], names, title="black box on test images"),
                        "2_black_box.png"), "confusion matrix (rows: true class)")

    with stage("CAE: reconstructions and swaps"):
        x, y = test.images, test.labels
        rec = swap.reconstruction_report(cae, classifier, x, y)
        confusion = swap.swap_confusion(cae, classifier, x, y, n_per_pair=200, seed=seed)   # (K, K, K)
        rates = swap.flip_rates(confusion)
        m.update(rec)
        m.update({"swap_flip_rate": rates["mean"], "swap_flip_rate_worst": rates["worst"],
                  "swap_same_class_agreement": rates["same_class"],
                  "class_code_effect": swap.class_code_effect(cae, x, y, seed)})
        rep.heading("3. The CAE: class code and individual code")
        rep.text(f"Each image is encoded into a class code ({cae.config.class_dim} numbers) and an individual code "
                 "(a small map). A swap decodes the individual code of one image with the class code of another: it "
                 "should keep the look and take the class of the class-code donor (the flip rate).")
        donors = torch.cat([torch.nonzero(y == k).flatten()[:2] for k in range(len(names))])
        looks = torch.randperm(len(x), generator=g)[:6]
        grid = swap.swap_grid(cae, x[looks], x[donors])
        probs = predict_proba(classifier, grid.flatten(0, 1)).reshape(*grid.shape[:2], -1)
        rep.figure(save(viz.plot_swap_grid(x[looks], x[donors], grid, probs=probs, class_names=names,
                                           class_labels=y[donors]), "3_swaps.png"),
                   "swap grid: individual codes along the top, class codes down the side; titles: the black box's "
                   "decision (green: the class-code donor's class)")
        rep.figure(save(viz.plot_swap_confusion(swap.swap_confusion_matrix(confusion), names,
                                                title="black box on swaps"), "4_swap_confusion.png"),
            "the black box's decisions on cross-class swaps (rows: the class-code donor's class)")

    with stage("counterfactual paths"):
        bank = paths.CodeBank.from_images(cae, train.images, train.labels, classifier=classifier)
        medoid = paths.MedoidReference(bank)
        steps = 11                                                                    # points per path, ends included
        fr = paths.flip_report(cae, classifier, x, reference=medoid, steps=steps)
        m.update({"path_flip_rate": fr["flip_rate"], "path_mean_flip_step": fr["mean_flip_step"],
                  "path_flip_at_step_0": fr["at_step_0"], "reference_bank_size": len(bank)})
        rep.heading("4. Counterfactual paths")
        rep.text(f"The class code of an image walks in {steps - 1} steps towards the class code of the target "
                 "class's medoid (a typical real sample); each step is decoded with the image's own individual code "
                 "and shown to the black box. The first frame it assigns to the target class is the counterfactual.")
        sick = torch.nonzero(y != 0).flatten() if test.masks is not None else torch.arange(len(x))
        # n_saliency of them, sampled across the classes (every prefix too): the test split may be sorted by class
        sick = sick[torch.as_tensor(stratified_indices(y[sick], n_saliency, seed))]
        xs = x[sick[:n_saliency]]
        maps, path = CAESaliency(cae, classifier, reference=medoid, variant=Variant.PATH, steps=steps).explain(xs)
        i = int(path.flipped.float().argmax())
        mask = None if test.masks is None else test.masks[sick[i]]
        rep.figure(save(viz.plot_path(path, i, names, mask=mask, maps={"saliency": maps}), "5_path.png"),
                   "one path: frames (flip outlined in green), the CAE saliency map, the black box's probabilities")

    with stage("saliency"):
        rep.heading("5. CAE saliency")
        rep.text("The path map sums how much each pixel changes along the path (caelib's path variant, smoothed "
                 f"by {DEFAULT_SMOOTH[Variant.PATH]:g} px); the path-gradient map weights that change by the black "
                 "box's own gradient, integrated along the same path (it shows what moved the black box, not only "
                 "what the CAE changed). On the synthetic lesions the true evidence is known, so the pointing game "
                 "(does the map's maximum fall inside the lesion?) measures both, against two baselines.")
        grad_maps = scale_to_max(path_saliency(path, Variant.PATH_GRADIENT, classifier=classifier, normalise=False))
        if test.masks is not None:
            ms = test.masks[sick[:n_saliency]]
            m["pointing_game"] = float(pointing_game(maps, ms).mean())
            m["pointing_game_path_gradient"] = float(pointing_game(grad_maps, ms).mean())
            m["pointing_game_random_pixel"] = float(ms.flatten(1).mean(1).mean())
            m["pointing_game_brightest_pixel"] = brightest_pixel_hit_rate(test.subset(sick[:n_saliency]))
            m["saliency_images"] = len(xs)
        rep.figure(save(viz.plot_saliency_grid(xs[:8], {"CAE path": maps[:8], "CAE path-gradient": grad_maps[:8]},
                                               masks=None if test.masks is None else test.masks[sick[:8]]),
                        "6_saliency.png"), "CAE saliency maps (cyan: true evidence, where known)")
        history = models.meta.get("history") or []
        if history:
            rep.figure(save(viz.plot_history(history, ["recon", "swap_class", "code_class", "adversarial"],
                                             title="training of the shipped CAE"), "7_training.png"),
                       "the shipped CAE's training losses (from its checkpoint)")

    with stage("report"):
        m["seconds"] = {**seconds, "total": round(time.perf_counter() - start, 2)}
        m["threads"], m["torch"], m["python"] = torch.get_num_threads(), torch.__version__, platform.python_version()
        card = models.meta.get("metrics", {})
        rep.heading("6. The measurements")
        table = [
            ["black-box test accuracy", m["classifier_accuracy"], "\u2191",
             models.classifier.meta.get("test_accuracy", {}).get(dataset, "-")],
            ["swap flip rate (mean over class pairs)", m["swap_flip_rate"], "\u2191", card.get("flip_mean", "-")],
            ["swap flip rate (worst class pair)", m["swap_flip_rate_worst"], "\u2191", card.get("flip_worst", "-")],
            ["black-box accuracy on reconstructions", m["recon_accuracy"], "\u2191", card.get("recon_accuracy", "-")],
            ["reconstruction error (mean abs. difference)", m["recon_error"], "\u2193", card.get("recon_error", "-")],
            ["class code effect", m["class_code_effect"], "\u2191 (0: collapsed)", card.get("class_code_effect", "-")],
            ["path flip rate (medoid reference)", m["path_flip_rate"], "\u2191", "-"],
            [f"mean flip step (of {steps - 1})", m["path_mean_flip_step"], "\u2193", "-"],
            ["paths flipped already at step 0 (the reconstruction)", m["path_flip_at_step_0"], "\u2193", "-"],
        ]
        if "pointing_game" in m:
            table += [["pointing game, CAE saliency (path)", m["pointing_game"], "\u2191", "-"],
                      ["pointing game, CAE saliency (path-gradient)", m["pointing_game_path_gradient"], "\u2191", "-"],
                      ["pointing game, a random pixel (baseline)", m["pointing_game_random_pixel"], "\u2191", "-"],
                      ["pointing game, the brightest pixel (baseline)", m["pointing_game_brightest_pixel"], "\u2191",
                       "-"]]
        rep.table(["measure", "now", "better", "model card (data/README.md)"], table)
        rep.text(f"Measured on {len(test)} test images (swaps: up to 200 pairs per class pair; saliency: "
                 f"{len(xs)} images with evidence). The model card measured the same models on 1,000 test "
                 "images when they were trained.")
        rep.heading("7. How long it took")
        rep.table(["stage", "seconds"], [[k, v] for k, v in m["seconds"].items()])
        rep.text(f"{m['threads']} torch threads, torch {m['torch']}, Python {m['python']}.")
        rep.heading("Run it yourself")
        rep.code(f"python -m caelib tour --dataset {dataset} --out report\n"
                 "python -m caelib explain image.png --out explanations --json\n"
                 "jupyter lab notebooks/   # the course, step by step")
        (out / "metrics.json").write_text(json.dumps(m, indent=1) + "\n")
        (out / "index.md").write_text(rep.markdown())
        (out / "index.html").write_text(rep.html())
    bar.close()
    return m
