"""The project's own promises: one dependency list, README's commands, safe loading only."""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()


def _pyproject_specs() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {s.replace(" ", "") for s in project["dependencies"] + project["optional-dependencies"]["dev"]}


def _environment_specs() -> set[str]:
    specs, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip and stripped.startswith("- ") and not stripped.startswith("- -e"):
            specs.add(stripped[2:].split("#")[0].strip().replace(" ", ""))
    return specs


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    py, env = _pyproject_specs(), _environment_specs()
    assert py, "no dependencies parsed from pyproject.toml"
    assert py == env, f"only in pyproject: {sorted(py - env)}; only in environment.yml: {sorted(env - py)}"


def test_readme_gives_the_command_that_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if "pytest" in line and not line.strip().startswith("#")
                and "-m pytest" in line]
    assert len(commands) == 1, commands
    readme = (ROOT / "README.md").read_text()
    assert commands[0] in readme, f"README.md does not give CI's test command: {commands[0]}"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [nb.name for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) if nb.name not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_every_torch_load_is_weights_only():
    offenders = []
    for path in list((ROOT / "caelib").rglob("*.py")) + list((ROOT / "scripts").rglob("*.py")) + \
            list((ROOT / "benchmarks").rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start(): text.find(")", m.start()) + 1]
            if "weights_only=True" not in call:
                offenders.append(f"{path.relative_to(ROOT)}: {call}")
    assert not offenders, offenders


def test_no_module_is_longer_than_about_400_lines() -> None:
    """README's Architecture section promises small modules with one job each (issue 28): a module that grows past
    400 lines is split by job, not left to grow."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "caelib").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"split these modules by job (README, Architecture): {long}"
