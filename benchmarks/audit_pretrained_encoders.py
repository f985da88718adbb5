"""How many target structures had the active-learning study's pretrained encoder seen?

The study's ``pretrained`` representations start from ``mp2020_nonoxide_eform.pt``, pretrained
(commit d4ed468) before ``pretrain_encoder.py`` matched structures with StructureMatcher. Its
rule left out the mp_2020 structures that share reduced formula, site count and volume per atom
rounded to 0.1 Å^3 with a matbench_dielectric or elastic_tensor_2015 structure. This script
rebuilds that selection (the same rule, the same seed), checks it against the counts the
pretraining recorded, and counts, for each target dataset, the structures that
StructureMatcher finds equal to one the encoder trained on (same cell or another): every pair
with the same reduced formula is compared, with no volume prefilter (StructureMatcher scales
volumes itself). The encoder saw their formation energies, not the study's labels.

    python benchmarks/audit_eform_encoder.py     # under a minute

Writes benchmarks/results/audit_eform_encoder.json.
"""

from __future__ import annotations

import json
import time

import numpy as np
from featurize import COMMIT_AT_START, RESULTS, machine_note
from pymatgen.analysis.structure_matcher import StructureMatcher

from skmatgp.datasets import load_dataset

TARGETS = ("matbench_dielectric", "elastic_tensor_2015")


def rounded_fingerprint(structure) -> tuple:
    """The d4ed468 rule: reduced formula, site count, volume per atom to 0.1 Å^3."""
    return structure.composition.reduced_formula, len(structure), round(structure.volume / len(structure), 1)


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


def main() -> None:
    start = time.perf_counter()
    recorded = json.loads((RESULTS / "pretrain_mp2020_nonoxide_eform.json").read_text())
    source = load_dataset("mp_2020", target="formation_energy_per_atom")
    targets = {name: load_dataset(name).structures for name in TARGETS}
    excluded = {rounded_fingerprint(t) for structures in targets.values() for t in structures}
    keep = np.flatnonzero(
        [
            "O" not in s.composition.as_dict() and rounded_fingerprint(s) not in excluded
            for s in source.structures
        ]
    )
    n_source = len(keep)
    keep = keep[[len(source.structures[i]) <= recorded["max_sites"] for i in keep]]
    n_small = len(keep)
    if (n_source, n_small) != (recorded["source_size"], recorded["source_size_small_cells"]):
        raise RuntimeError(
            f"The rebuilt selection ({n_source} source, {n_small} small cells) is not the recorded "
            f"one ({recorded['source_size']}, {recorded['source_size_small_cells']})."
        )
    used = np.sort(np.random.default_rng(0).choice(keep, recorded["used"], replace=False))
    datasets = {}
    for name, structures in targets.items():
        found = seen(source.structures[used], structures)
        datasets[name] = {"structures": len(structures), "seen_by_the_encoder": int(found.sum())}
        print(name, datasets[name], flush=True)
    result = {
        "encoder": recorded["model_file"],
        "rule": "mp_2020 non-oxides minus reduced formula, site count and volume per atom (0.1 Å^3) "
        "of a target structure; at most 20 sites; 5,000 drawn with default_rng(0)",
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
    (RESULTS / "audit_eform_encoder.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'audit_eform_encoder.json'}")


if __name__ == "__main__":
    main()
