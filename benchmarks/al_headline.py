"""The paper's headline, measured on a fixed held-out test set: entropy vs random (and batch
entropy), >= 3 seeds, the encoder trained on the initial labels and then frozen (the paper's
protocol; refits are the subject of a later study).

    python benchmarks/al_headline.py mp_oxides      # about 30 min on 2 cores
    python benchmarks/al_headline.py dielectric     # about 15 min
    python benchmarks/al_headline.py mp_oxides --quick   # a smoke run, minutes

Writes benchmarks/results/al_<name>.json (labels_ratio, final_mae, coverage95, seeds,
protocol) and al_<name>.png (learning curves on the test set and on the remaining pool).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from protocol import RESULTS

from skmatgp.active import labels_ratio, run_campaigns
from skmatgp.active._runner import summarise
from skmatgp.datasets import load_dataset

WORK = Path(__file__).parent / "work"

PROTOCOLS = {
    "mp_oxides": {
        "dataset": "mp_2020_oxides", "n_test": 2000, "n_pool": 6000, "n_initial": 1000, "budget": 1500, "eval_every": 50
    },
    "dielectric": {
        "dataset": "matbench_dielectric", "n_test": 1000, "n_pool": None, "n_initial": 500, "budget": 1500, "eval_every": 50
    },
}
QUICK = {"n_test": 200, "n_pool": 600, "n_initial": 100, "budget": 150, "eval_every": 25}
BATCH_SIZES = {"entropy": 1, "random": 1, "batch_entropy": 50}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(PROTOCOLS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--resummarise",
        action="store_true",
        help="recompute the JSON from the finished campaigns in work/ (keeps the elapsed time "
        "measured by the run that did the work)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    protocol = dict(PROTOCOLS[args.name])
    if args.quick:
        protocol.update(QUICK)
    batch_sizes = dict(BATCH_SIZES)
    if args.quick:
        batch_sizes["batch_entropy"] = 25
    data = load_dataset(protocol["dataset"])
    work = WORK / (args.name + ("_quick" if args.quick else ""))
    # an interrupted run resumes from work/; delete that folder to start over
    suffix = "_quick" if args.quick else ""
    strategies = ("entropy", "batch_entropy", "random")
    if args.resummarise:
        records = json.loads((work / "history.json").read_text())
        elapsed = json.loads((RESULTS / f"al_{args.name}{suffix}.json").read_text())["elapsed_s"]
    else:
        start = time.perf_counter()
        records = run_campaigns(
            data.structures,
            data.target,
            data.ids,
            strategies=strategies,
            seeds=args.seeds,
            n_test=protocol["n_test"],
            n_pool=protocol["n_pool"],
            n_initial=protocol["n_initial"],
            budget=protocol["budget"],
            batch_size=batch_sizes,
            eval_every=protocol["eval_every"],
            representation="graph",
            out_dir=work,
            title=f"{protocol['dataset']} ({data.target_name}), fixed test set",
        )["records"]
        elapsed = time.perf_counter() - start
    summary = summarise(records, strategies, args.seeds)
    per_seed = {
        strategy: {
            "labels_ratio_test": [
                labels_ratio([r for r in records if r["seed"] == s], strategy)[0] for s in args.seeds
            ],
            "labels_ratio_pool": [
                labels_ratio([r for r in records if r["seed"] == s], strategy, metric="pool_mae")[0]
                for s in args.seeds
            ],
        }
        for strategy in ("entropy", "batch_entropy")
    }
    final = summary["final"]
    out = {
        "dataset": protocol["dataset"],
        "target": data.target_name,
        "labels_ratio": summary["labels_ratio"]["entropy"]["labels_ratio_test"],
        "labels_ratio_detail": summary["labels_ratio"],
        "labels_ratio_per_seed": per_seed,
        "final_mae": {k: v["test_mae"]["mean"] for k, v in final.items()},
        "final_mae_std": {k: v["test_mae"]["std"] for k, v in final.items()},
        "final_pool_mae": {k: v["pool_mae"]["mean"] for k, v in final.items()},
        "coverage95": {k: v["test_coverage95"]["mean"] for k, v in final.items()},
        "initial_mae": {
            k: float(
                np.mean(
                    [
                        r["test_mae"]
                        for r in records
                        if r["strategy"] == k and r["n_labels"] == protocol["n_initial"]
                    ]
                )
            )
            for k in final
        },
        "seeds": args.seeds,
        "protocol": {
            **protocol,
            "batch_sizes": batch_sizes,
            "encoder": "trained on the "
            "initial labels, then frozen; GP hyperparameters fitted once; the GP "
            "conditions on each new label (rank-1 update)",
            "test_set": "fixed, drawn once (seed 0), never in the pool",
            "quick": args.quick,
        },
        "elapsed_s": elapsed,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"al_{args.name}{suffix}.json").write_text(json.dumps(out, indent=2))
    shutil.copy(work / "learning_curve.png", RESULTS / f"al_{args.name}{suffix}.png")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
