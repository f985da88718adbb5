"""Pretrain an encoder on a source task, for transfer to small target datasets.

Source: formation energy per atom of mp_2020's structures that contain no oxygen, minus any
structure that also appears in a target dataset of the study (matbench_dielectric,
elastic_tensor_2015; matched by reduced formula, site count and volume per atom), so the
target structures stay unseen. The oxide target (mp_2020_oxides) shares no structure with the
source by construction. The saved model is what ``GNNGPRegressor(encoder=path, epochs=0)``
starts from.

    python benchmarks/pretrain_encoder.py            # about 25 min on 2 busy cores
    python benchmarks/pretrain_encoder.py --quick    # a smoke run

Writes benchmarks/work/pretrained/<name>.pt (the model; not committed: it is rebuilt by this
script) and benchmarks/results/pretrain_<name>.json (source size, epochs, time, validation MAE).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.datasets import load_dataset

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PRETRAINED = HERE / "work" / "pretrained"
NAME = "mp2020_nonoxide_eform"


def fingerprint(structure) -> tuple:
    """Cheap identity of a structure: reduced formula, site count, volume per atom (0.1 Å^3)."""
    return (
        structure.composition.reduced_formula,
        len(structure),
        round(structure.volume / len(structure), 1),
    )


def source_indices(quick: bool) -> tuple[np.ndarray, dict]:
    source = load_dataset("mp_2020")
    has_oxygen = np.array(["O" in s.composition.as_dict() for s in source.structures])
    targets = {name: load_dataset(name) for name in ("matbench_dielectric", "elastic_tensor_2015")}
    seen = {fingerprint(s) for data in targets.values() for s in data.structures}
    overlap = np.array([fingerprint(s) in seen for s in source.structures])
    keep = np.flatnonzero(~has_oxygen & ~overlap)
    info = {
        "mp_2020": len(source.target),
        "with_oxygen": int(has_oxygen.sum()),
        "matching_a_target_structure": int((overlap & ~has_oxygen).sum()),
        "source_size": len(keep),
    }
    if quick:
        keep = keep[:300]
    return source, keep, info


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-source", type=int, default=5000, help="cap on source structures")
    parser.add_argument("--max-sites", type=int, default=20, help="skip larger cells (training cost)")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    start = time.perf_counter()
    source, keep, info = source_indices(args.quick)
    keep = keep[[len(source.structures[i]) <= args.max_sites for i in keep]]
    info["source_size_small_cells"] = len(keep)
    rng = np.random.default_rng(0)
    if len(keep) > args.max_source:
        keep = np.sort(rng.choice(keep, args.max_source, replace=False))
    graphs = CrystalGraphTransformer(n_jobs=1).fit_transform(source.structures[keep])
    graph_s = time.perf_counter() - start
    model = GNNGPRegressor(
        epochs=3 if args.quick else args.epochs,
        patience=10,
        gp_iterations=0,  # only the encoder is reused; an exact GP on 12k points is not needed
        calibrate_std=False,
        random_state=0,
        verbose=1,
    )
    model.fit(graphs, source.target[keep])
    name = NAME + ("_quick" if args.quick else "")
    PRETRAINED.mkdir(parents=True, exist_ok=True)
    model.save(PRETRAINED / f"{name}.pt")
    head = model._encoder_outputs(graphs, head=True) * model.y_scale_ + model.y_mean_
    out = {
        **info,
        "used": len(keep),
        "target": source.target_name,
        "epochs_run": model.n_epochs_,
        "train_mae_head": float(np.mean(np.abs(head - source.target[keep]))),
        "graph_s": graph_s,
        "elapsed_s": time.perf_counter() - start,
        "model_file": f"benchmarks/work/pretrained/{name}.pt",
        "max_sites": args.max_sites,
        "params": {k: v for k, v in model.get_params().items() if k != "encoder"},
        "quick": args.quick,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"pretrain_{name}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
