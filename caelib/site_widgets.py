"""The Sphinx extension of the course website (``extensions = [..., "caelib.site_widgets"]``): widget outputs
rendered without JavaScript. A tqdm progress bar (a widget in a kernel) is shown as its final text line; an
interactive explorer, which needs a kernel, as the first frame it drew and a note.
"""

from __future__ import annotations

import html
import json
import re

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_state(env, docname: str) -> dict:
    try:
        _, kwargs = env.nb_metadata[docname]["js_files"]["ipywidgets_state"]
        return json.loads(kwargs["body"]).get("state", {})
    except (AttributeError, KeyError, TypeError, ValueError):
        return {}


def _ref(value) -> str | None:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def _progress_line(state: dict, model_id: str) -> str | None:
    """tqdm's notebook bar (an HBox of HTML, a progress bar, HTML) as the text line tqdm prints in a terminal."""
    box = state.get(model_id, {})
    if box.get("model_name") != "HBoxModel":
        return None
    kids = [state.get(_ref(k) or "", {}) for k in box.get("state", {}).get("children", [])]
    names = [k.get("model_name") for k in kids]
    if len(kids) != 3 or names[1] not in {"FloatProgressModel", "IntProgressModel"} or names[0] != "HTMLModel":
        return None
    left = html.unescape(kids[0]["state"].get("value", "")).strip()
    right = html.unescape(kids[2].get("state", {}).get("value", "")).strip()
    bar = kids[1]["state"]
    frac = (bar.get("value") or 0) / (bar.get("max") or 1)
    filled = max(0, min(20, round(20 * frac)))
    return f"{left}|{'█' * filled}{' ' * (20 - filled)}| {right}".strip()


def _frames(state: dict, model_id: str, seen: set | None = None) -> list[str]:
    """The PNG images (base64) that the Output widgets inside a widget held when the notebook finished."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    st = model.get("state", {})
    found = []
    if model.get("model_name") == "OutputModel":
        for out in st.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                found.append(png if isinstance(png, str) else "".join(png))
    for value in st.values():
        for v in value if isinstance(value, list) else [value]:
            ref = _ref(v)
            if ref:
                found += _frames(state, ref, seen)
    return found


def setup(app):
    """Sphinx extension (``extensions = [..., "caelib.site_widgets"]``): widget outputs rendered without JavaScript."""
    from docutils import nodes
    from sphinx.transforms.post_transforms import SphinxPostTransform

    class StaticWidgets(SphinxPostTransform):
        default_priority = 3           # before myst-nb picks each output's mime type (priority 4)

        def run(self, **kwargs):
            state = _widget_state(self.env, self.env.docname)
            for node in list(self.document.findall(nodes.container)):
                if node.get("nb_element") != "mime_bundle":
                    continue
                kinds = [child.get("mime_type") for child in node.children]
                if _WIDGET_VIEW not in kinds:
                    continue
                raw = node.children[kinds.index(_WIDGET_VIEW)].astext()
                m = re.search(r'"model_id":\s*"([^"]+)"', raw)
                model_id = m.group(1) if m else ""
                line = _progress_line(state, model_id)
                if line is not None:
                    new = nodes.literal_block(line, line, classes=["output", "stream", "caelib-progress"])
                else:
                    frames = _frames(state, model_id)
                    imgs = "".join(f'<img src="data:image/png;base64,{f.strip()}" alt="the widget\'s first frame">'
                                   for f in frames)
                    note = ("Interactive widget: it needs a running Python kernel. Open this notebook in "
                            "JupyterLab to use it" + (" (its first frame below)." if frames else "."))
                    new = nodes.raw("", f'<div class="caelib-widget"><p class="caelib-widget-note">{note}</p>'
                                        f"{imgs}</div>", format="html")
                node.replace_self(nodes.container("", new, classes=["cell_output_widget"]))

    app.add_post_transform(StaticWidgets)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
