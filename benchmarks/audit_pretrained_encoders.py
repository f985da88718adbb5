"""How many target structures had each pretrained encoder seen?

``pretrain_encoder.py`` leaves out of its mp_2020 source the structures of matbench_dielectric
and elastic_tensor_2015, by rules that changed:

- ``eform`` (``mp2020_nonoxide_eform.pt``, the active-learning study's ``pretrained``
  representations; commit d4ed468): reduced formula, site count and volume per atom rounded to
  0.1 Å^3; no StructureMatcher;
- ``band_gap`` (``mp2020_band_gap.pt``, gbm_log_gap's and gnngp_log_gap's feature): reduced
  formula and site count, and StructureMatcher on the pairs of another site count whose volumes
  per atom are within 2% (``protocol.same_structure_other_cell``).

For each encoder this script rebuilds its training selection (that rule, the same cap on
sites, the same seed), checks it against the counts its pretraining recorded, and counts the
target structures that StructureMatcher finds equal to one the encoder trained on: every pair
with the same reduced formula, with no volume prefilter (StructureMatcher scales volumes
itself). The encoders saw their source labels (formation energy, PBE band gap), not the
targets' labels. For the band-gap encoder it also refits gbm_log_gap on the 5 Matbench folds
(as ``cv_benchmark.py`` does) and gives its test MAE without the rows the encoder had seen.

    python benchmarks/audit_pretrained_encoders.py     # about 5 minutes

Writes benchmarks/results/audit_<encoder name>.json.
"""

from __future__ import annotations

import json
import time

import numpy as np
from protocol import COMMIT_AT_START, RESULTS, SOURCES, machine_note, matbench_splits, source_indices
from pymatgen.analysis.structure_matcher import StructureMatcher

from skmatgp.datasets import load_dataset

TARGETS = ("matbench_dielectric", "elastic_tensor_2015")
RULES = {
    "eform": "mp_2020 non-oxides minus reduced formula, site count and volume per atom (0.1 Å^3) "
    "of a target structure (commit d4ed468)",
    "band_gap": "mp_2020 minus reduced formula and site count of a target structure, and minus "
    "what StructureMatcher finds equal to one in another cell, volumes per atom within 2%",
}


def rounded_fingerprint(structure) -> tuple:
    """The d4ed468 rule: reduced formula, site count, volume per atom to 0.1 Å^3."""
    return structure.composition.reduced_formula, len(structure), round(structure.volume / len(structure), 1)


def eform_source(targets):
    """The eform encoder's source under its own (d4ed468) rule."""
    source = load_dataset("mp_2020", target="formation_energy_per_atom")
    excluded = {rounded_fingerprint(t) for structures in targets.values() for t in structures}
    keep = np.flatnonzero(
        [
            "O" not in s.composition.as_dict() and rounded_fingerprint(s) not in excluded
            for s in source.structures
        ]
    )
    return source, keep


def band_gap_source():
    """The band-gap encoder's source: pretrain_encoder's current rule."""
    config = SOURCES["band_gap"]
    source, keep, _ = source_indices(False, config["target"], config["oxides"])
    return source, keep


def seen(used, targets) -> np.ndarray:
    """Which target structures StructureMatcher finds equal to a used source structure."""
    by_formula = {}
    for s in used:
        by_formula.setdefault(s.composition.reduced_formula, []).append(s)
    matcher = StructureMatcher()
    found = np.zeros(len(targets), dtype=bool)
    for i, t in enumerate(targets):
        found[i] = any(matcher.fit(s, t) for s in by_formula.get(t.composition.reduced_formula, []))
    return found


def audit(name: str, targets: dict) -> dict:
    start = time.perf_counter()
    config = SOURCES[name]
    recorded = json.loads((RESULTS / f"pretrain_{config['name']}.json").read_text())
    source, keep = eform_source(targets) if name == "eform" else band_gap_source()
    n_source = len(keep)
    keep = keep[[len(source.structures[i]) <= recorded["max_sites"] for i in keep]]
    n_small = len(keep)
    if (n_source, n_small) != (recorded["source_size"], recorded["source_size_small_cells"]):
        raise RuntimeError(
            f"{name}: the rebuilt selection ({n_source} source, {n_small} small cells) is not the "
            f"recorded one ({recorded['source_size']}, {recorded['source_size_small_cells']})."
        )
    used = np.sort(np.random.default_rng(0).choice(keep, recorded["used"], replace=False))
    datasets = {}
    for target_name, structures in targets.items():
        found = seen(source.structures[used], structures)
        datasets[target_name] = {
            "structures": len(structures),
            "seen_by_the_encoder": int(found.sum()),
            "indices": np.flatnonzero(found).tolist(),
        }
        print(name, target_name, int(found.sum()), flush=True)
    return {
        "encoder": recorded["model_file"],
        "source_label": recorded["target"],
        "rule": RULES[name] + f"; at most {recorded['max_sites']} sites; {recorded['used']:,} drawn "
        "with default_rng(0)",
        "selection_matches_the_recorded_counts": {
            "source_size": n_source,
            "source_size_small_cells": n_small,
        },
        "used": len(used),
        "datasets": datasets,
        "commit": COMMIT_AT_START,
        "elapsed_s": time.perf_counter() - start,
        "machine": machine_note(),
    }


def gbm_log_gap_without(seen_rows: list[int]) -> dict:
    """gbm_log_gap's test MAE by fold, refitted as cv_benchmark fits it, with and without the
    test rows the band-gap encoder had seen: what they are worth to the committed figure."""
    from models import DescriptorBoostingGap

    data = load_dataset("matbench_dielectric")
    X, y = data.structures, np.asarray(data.target, dtype=float)
    with_rows, without_rows = [], []
    for fold, (train, test) in enumerate(matbench_splits(y)):
        error = np.abs(
            DescriptorBoostingGap(fold, False, 1).fit(X[train], y[train]).predict(X[test])[0] - y[test]
        )
        with_rows.append(float(error.mean()))
        without_rows.append(float(error[~np.isin(test, seen_rows)].mean()))
        print(
            f"fold {fold + 1}: MAE {with_rows[-1]:.4f}, without the seen rows {without_rows[-1]:.4f}",
            flush=True,
        )
    return {
        "mae_folds": with_rows,
        "mae_folds_without_seen_rows": without_rows,
        "mae_mean": float(np.mean(with_rows)),
        "mae_mean_without_seen_rows": float(np.mean(without_rows)),
    }


def main() -> None:
    targets = {name: load_dataset(name).structures for name in TARGETS}
    for name in ("eform", "band_gap"):
        result = audit(name, targets)
        if name == "band_gap":
            seen_rows = result["datasets"]["matbench_dielectric"]["indices"]
            result["gbm_log_gap"] = gbm_log_gap_without(seen_rows)
        path = RESULTS / f"audit_{SOURCES[name]['name']}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
