"""benchmarks/RESULTS.md and its appendix: short, and exactly what make_results.py writes from
the results files, so no figure is typed by hand or left stale. Fast: nothing is measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def make_results(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import make_results

    return make_results


def test_results_md_is_short_and_is_what_make_results_writes(make_results):
    """RESULTS.md stays a two-minute read, and it and its appendix are exactly what
    make_results.py renders from the results files: no figure typed by hand, none stale."""
    rendered = make_results.render()
    assert set(rendered) == {"RESULTS.md", "RESULTS-appendix.md"}
    for name, text in rendered.items():
        committed = (ROOT / "benchmarks" / name).read_text()
        assert committed == text, f"benchmarks/{name} is stale: run python benchmarks/make_results.py"
    summary = rendered["RESULTS.md"]
    assert len(summary.splitlines()) <= 200
    assert "(RESULTS-appendix.md)" in summary
    # every table names the results file it reads, on its "How:" line
    for block in summary.split("\n## ")[1:]:
        if "| --- |" in block:
            assert re.search(r"`(results/)?\w+\.json`", block), block.splitlines()[0]


def test_foundation_study_section_reads_a_third_dataset(tmp_path, monkeypatch, make_results):
    """al_foundation.py's rows for mp_oxides_gap (the study's third dataset) join the table and
    the target lines; a dataset not run yet is named as such."""
    study = json.loads((ROOT / "benchmarks" / "results" / "al_study.json").read_text())
    study["rows"] = [r for r in study["rows"] if r.get("dataset") != "mp_oxides_gap"]
    template = [
        r for r in study["rows"] if r.get("study") == "foundation_1000" and r["dataset"] == "dielectric"
    ]
    assert template, "al_study.json has no foundation_1000 rows for dielectric"
    protocol = study["foundation_1000"]["protocol"]
    monkeypatch.setattr(make_results, "RESULTS", tmp_path)
    (tmp_path / "al_study.json").write_text(json.dumps(study))
    assert "mp_oxides_gap not run yet" in "\n".join(make_results.summary_foundation_al())

    gap = [{**r, "dataset": "mp_oxides_gap"} for r in template]
    for r in gap:
        if r["acquisition"] == "kmeanspp":
            r["mae_ratio_vs_random"] = 0.85  # this dataset alone beats random by 15%
        r["labels_ratio_vs_paper"] = 4.0 if r["representation"] != "scratch" else r["labels_ratio_vs_paper"]
    study["rows"] += gap
    protocol["datasets"]["mp_oxides_gap"] = {
        "dataset": "mp_2020_oxides",
        "target": "band_gap",
        "n_test": 1000,
        "n_pool": 3000,
        "budget": 950,
    }
    protocol["test_rows_in_selection"]["mp_oxides_gap"] = None  # not a Matbench dataset
    protocol["left_out_no_neighbour_within_5A"] = {"mp_oxides_gap": ["mp-1", "mp-2"]}
    (tmp_path / "al_study.json").write_text(json.dumps(study))

    text = "\n".join(make_results.summary_foundation_al())
    assert "not run yet" not in text and "| mp_oxides_gap | sevennet | kmeanspp |" in text
    others_met = sum(
        any(
            (r["labels_ratio_vs_paper"] or 0) >= make_results.LABELS_RATIO_TARGET
            for r in study["rows"]
            if r.get("study") and r["representation"] != "scratch" and r["dataset"] == d
        )
        for d in ("dielectric", "elastic")
    )
    assert f"met on {others_met + 1}; best foundation row: dielectric" in text
    assert "mp_oxides_gap 0.850 (kmeanspp)" in text and "no acquisition beats random" not in text
    assert "(mp_oxides_gap)" not in text  # no selection overlap to report for it
    details = "\n".join(make_results._foundation_campaign_details())
    assert "mp_oxides_gap: mp_2020_oxides (band_gap), test 1000" in details and "mp_oxides_gap 2" in details
