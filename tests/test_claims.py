"""``caelib.claims``: a conclusion of the prose, checked by a code cell; results shown as real tables."""

from __future__ import annotations

import pytest
import torch
from IPython.core.formatters import DisplayFormatter

from caelib.claims import ClaimFailed, claim, table


def test_a_claim_that_holds_prints_once_and_displays_nothing(capsys):
    checked = claim(torch.tensor(0.9) > 0.5, "most swaps flip", evidence="flip rate 0.900")
    assert checked and capsys.readouterr().out == "claim checked: most swaps flip (flip rate 0.900)\n"
    assert DisplayFormatter().format(checked) == ({}, {})        # a cell ending in claim(...) shows no "True"
    assert claim(True, "quiet", quiet=True) and capsys.readouterr().out == ""


def test_a_claim_that_no_longer_holds_fails_with_the_statement_and_the_evidence():
    with pytest.raises(ClaimFailed, match="most swaps flip.*flip rate 0.300"):
        claim(0.3 > 0.5, "most swaps flip", evidence="flip rate 0.300")
    with pytest.raises(ValueError, match="one truth value"):
        claim(torch.tensor([True, False]), "every swap flips")
    with pytest.raises(ValueError, match="non-empty"):
        claim(True, " ")


def test_table_renders_html_with_the_best_value_in_bold():
    html = table({"straight": {"off_manifold": 3.0, "realism": 0.1}, "graph": {"off_manifold": 1.0, "realism": 0.2}},
                 index="route", highlight={"off_manifold": "min"}, caption="routes").to_html()
    assert "<table" in html and "routes" in html and "font-weight: bold" in html and "route" in html
    with pytest.raises(ValueError, match="lacks"):
        table({"a": {"x": 1}}, highlight={"y": "min"})
