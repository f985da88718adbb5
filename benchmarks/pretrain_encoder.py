"""Pretrain an encoder on a source task, for transfer to small target datasets.

Two sources, both mp_2020 minus any structure that shares its reduced formula and site count
with a structure of a target dataset (matbench_dielectric, elastic_tensor_2015), and minus any
that StructureMatcher finds equal to a target structure in another cell (comparing only pairs
whose volumes per atom are within 2%), so that the target structures stay unseen. The 2%
prefilter let 3 of matbench_dielectric's structures into the band-gap encoder's training set
(``audit_pretrained_encoders.py``); it is kept so that this script rebuilds that encoder:

- ``eform`` (default): formation energy per atom of the structures that contain no oxygen, for
  the active-learning study; its oxide target (mp_2020_oxides) then shares no structure with
  the source by construction.
- ``band_gap``: the PBE band gap of all of them, oxides included, for matbench_dielectric (a
  refractive index falls as the gap grows; ``cv_benchmark.py``'s gnngp_log_gap starts from it).

The saved encoder is what ``GNNGPRegressor(encoder=path)`` starts from (``epochs=0`` keeps it).

    python benchmarks/pretrain_encoder.py                      # about 25 min on 2 busy cores
    python benchmarks/pretrain_encoder.py --source band_gap    # about 15 min on 2 cores, 35 at 1 thread
    python benchmarks/pretrain_encoder.py --quick              # a smoke run

Writes benchmarks/work/pretrained/<name>.pt (the encoder only, ``save(encoder_only=True)``; not
committed: this script rebuilds it) and benchmarks/results/pretrain_<name>.json (source size,
epochs, time, validation MAE).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from protocol import PRETRAINED, RESULTS, SOURCES, machine_note, source_indices

from skmatgp import CrystalGraphTransformer, GNNGPRegressor


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--source", choices=tuple(SOURCES), default="eform")
    parser.add_argument("--max-source", type=int, help="cap on source structures (default: the source's)")
    parser.add_argument(
        "--max-sites", type=int, help="skip larger cells, for training cost (default: the source's)"
    )
    parser.add_argument("--epochs", type=int, help="at most this many epochs (default: the source's)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    config = SOURCES[args.source]
    for key, value in config["defaults"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    source, keep, info = source_indices(args.quick, config["target"], config["oxides"])
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
    name = config["name"] + ("_quick" if args.quick else "")
    PRETRAINED.mkdir(parents=True, exist_ok=True)
    model.save(PRETRAINED / f"{name}.pt", encoder_only=True)  # consumers pass it as encoder=
    head = model.predict_encoder_head(graphs)
    out = {
        "source": args.source,
        "left_out": (
            "every structure sharing reduced formula and site count with a target structure, and "
            "every one StructureMatcher finds equal to a target structure in another cell"
        ),
        **info,
        "used": len(keep),
        "target": source.target_name,
        "epochs_run": model.n_epochs_,
        "train_mae_head": float(np.mean(np.abs(head - source.target[keep]))),
        "graph_s": graph_s,
        "elapsed_s": time.perf_counter() - start,
        "model_file": f"benchmarks/work/pretrained/{name}.pt",
        "max_sites": args.max_sites,
        "max_source": args.max_source,
        "params": {k: v for k, v in model.get_params().items() if k != "encoder"},
        "quick": args.quick,
        "machine": machine_note(),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"pretrain_{name}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
