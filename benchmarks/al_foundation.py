"""Active learning on pretrained universal-potential features, 50 -> 1,000 labels, 5 seeds.

    python benchmarks/foundation_selection.py   # first: the package default it uses
    python benchmarks/al_foundation.py          # about an hour and a half on one core; resumes
    python benchmarks/al_foundation.py --quick  # a check of the script

Three datasets, each with a fixed held-out test set (seed 0, never in a pool) and a pool drawn
per seed from the rest (``skmatgp.active.split_test_pool``): matbench_dielectric n (test 1,000,
pool 3,000), mp_2020 oxides' PBE band gap (test 1,000, pool 3,000; the oxides' formation
energies would leak into the potentials, band gaps do not directly) and elastic_tensor_2015
log10 G_VRH (test 300, pool the other 881, so 600 labels at most). 50 random initial labels,
then batches of 25 up to 1,000 (elastic 600); test MAE every 50 labels. Structures with an atom
that has no neighbour within 5 Å (the cutoff of SevenNet-0 and CHGNet: the potentials cannot
describe them) are left out before the splits, for both systems; their ids are recorded (4
of mp_2020 oxides, none of the others).

- the package default's model (SevenNet-0 as chosen): ``Campaign(representation="foundation")``
  with the package default featurizer and GPRegressor (as foundation_selection.json chose them), the GP's hyperparameters
  refitted every 200 labels; acquisitions random, entropy (top-k max std), batch_entropy, lcmd,
  kmeanspp. Dielectric fits log(n) if the selection chose a log scale for it.
- scratch (the paper's system): a CGCNN-style encoder trained on the 50 initial labels, then
  frozen, max entropy with single queries (as in the paper) and random in batches of 25.

Each row adds ``labels_ratio_vs_paper`` (labels the paper's system needs to first reach its
own final test MAE, divided by the labels this row needs to reach that MAE; null if never) and
``mae_ratio_vs_random`` (this row's test MAE over random's with the same representation,
averaged over the curve's points after the initial set). The rows join
``benchmarks/results/al_study.json`` beside the earlier 300-label study's rows (kept), marked
``"study": "foundation_1000"``. Rerun over finished campaigns, it summarises them again without
refitting. The package default was chosen on rows of matbench_dielectric and elastic_tensor_2015
that include some of this study's test rows (their share is recorded): the choice of
representation saw them, the campaigns did not.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from protocol import FEATURE_CACHE, FOUNDATION_DATASETS, RESULTS, machine_note, selection_rows

from skmatgp.active import run_campaigns, split_test_pool
from skmatgp.datasets import load_dataset

WORK = Path(__file__).parent / "work" / "al_foundation"
DATASETS = {
    "dielectric": {
        "dataset": "matbench_dielectric",
        "target": None,
        "n_test": 1000,
        "n_pool": 3000,
        "budget": 950,
    },
    "mp_oxides_gap": {
        "dataset": "mp_2020_oxides",
        "target": "band_gap",
        "n_test": 1000,
        "n_pool": 3000,
        "budget": 950,
    },
    "elastic": {
        "dataset": "elastic_tensor_2015",
        "target": None,
        "n_test": 300,
        "n_pool": None,
        "budget": 550,
    },
}
FOUNDATION_ACQUISITIONS = ("random", "entropy", "batch_entropy", "lcmd", "kmeanspp")
PROTOCOL = {"n_initial": 50, "batch_size": 25, "eval_every": 50, "refit_every": 200}
QUICK = {"n_test": 100, "n_pool": 200, "budget": 50}


def labels_to_reach(records, strategy, value) -> int | None:
    """Labels at which the seed-mean test MAE curve of ``strategy`` first reaches ``value``."""
    n_labels = sorted({r["n_labels"] for r in records if r["strategy"] == strategy and "test_mae" in r})
    for n in n_labels:
        mean = np.mean([r["test_mae"] for r in records if r["strategy"] == strategy and r["n_labels"] == n])
        if mean <= value + 1e-12:
            return n
    return None


def mean_curve(records, strategy) -> dict[int, float]:
    rows = [r for r in records if r["strategy"] == strategy and "test_mae" in r]
    return {
        n: float(np.mean([r["test_mae"] for r in rows if r["n_labels"] == n]))
        for n in sorted({r["n_labels"] for r in rows})
    }


def describable(structures, cutoff: float = 5.0) -> np.ndarray:
    """Mask of the structures in which every atom has a neighbour within ``cutoff``."""
    return np.array([len(np.unique(s.get_neighbor_list(cutoff)[0])) == len(s) for s in structures])


def rows_for(dataset, representation, records, paper_records, seeds, n_initial) -> list[dict]:
    paper_curve = mean_curve(paper_records, "entropy")
    paper_final = paper_curve[max(paper_curve)]
    paper_needs = labels_to_reach(paper_records, "entropy", paper_final)
    random_curve = mean_curve(records, "random")
    rows = []
    for strategy in sorted({r["strategy"] for r in records}, key=lambda s: (s != "random", s)):
        curve = mean_curve(records, strategy)
        last = max(curve)
        final = [
            r["test_mae"]
            for r in records
            if r["strategy"] == strategy and r["n_labels"] == last and "test_mae" in r
        ]
        needs = labels_to_reach(records, strategy, paper_final)
        after = [n for n in curve if n > n_initial and n in random_curve]
        rows.append(
            {
                "study": "foundation_1000",
                "dataset": dataset,
                "representation": representation,
                "acquisition": strategy,
                "final_mae_test": float(np.mean(final)),
                "final_mae_test_std": float(np.std(final)),
                "final_mae_test_per_seed": final,
                "final_coverage95_test": float(
                    np.mean(
                        [
                            r["test_coverage95"]
                            for r in records
                            if r["strategy"] == strategy and r["n_labels"] == last and "test_coverage95" in r
                        ]
                    )
                ),
                "curve_test_mae": curve,
                "labels_ratio_vs_paper": None if needs is None else paper_needs / needs,
                # reached already with the random initial labels: it may need fewer, so at least this
                "labels_ratio_vs_paper_lower_bound": needs == n_initial,
                "labels_needed_for_paper_final": needs,
                "paper_final_mae": paper_final,
                "paper_labels": paper_needs,
                "mae_ratio_vs_random": float(np.mean([curve[n] / random_curve[n] for n in after])),
                "n_labels": [n_initial, last],
                "model_seconds_per_campaign": float(
                    np.mean(
                        [
                            sum(
                                r.get(k, 0.0)
                                for r in records
                                if r["strategy"] == strategy and r["seed"] == s
                                for k in ("query_s", "update_s", "refit_s")
                            )
                            for s in seeds
                        ]
                    )
                ),
                "seeds": list(seeds),
            }
        )
    return rows


def _elapsed(start: float, earlier: float | None) -> float:
    """Seconds of the run that did the work: a rerun over finished campaigns (seconds, it only
    reads their states to summarise them again) keeps the earlier run's figure."""
    now = time.perf_counter() - start
    return earlier if earlier is not None and now < 60 else now


def test_rows_in_selection(spec: dict, y) -> float | None:
    """Share of this study's test rows that foundation_selection.py scored on (it chose the
    package default), for the Matbench datasets it used; None for the others."""
    if spec["dataset"] not in FOUNDATION_DATASETS:
        return None
    test, _ = split_test_pool(len(y), spec["n_test"], spec["n_pool"], seed=0)
    return float(np.isin(test, selection_rows(y)).mean())


def plot(rows, records_by_dataset, path: Path) -> None:
    """Test MAE against labels per dataset: the seed mean of every row, its spread shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(records_by_dataset)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for k, row in enumerate(r for r in rows if r["dataset"] == dataset):
            records = records_by_dataset[dataset][row["representation"]]
            mine = [r for r in records if r["strategy"] == row["acquisition"] and "test_mae" in r]
            n = sorted({r["n_labels"] for r in mine})
            values = np.array([[r["test_mae"] for r in mine if r["n_labels"] == m] for m in n])
            style = "--" if row["representation"] == "scratch" else "-"
            label = f"{row['representation']} {row['acquisition']}"
            ax.plot(n, values.mean(1), style, color=f"C{k}", label=label)
            ax.fill_between(n, values.min(1), values.max(1), color=f"C{k}", alpha=0.15)
        ax.set_title(f"{dataset}: test MAE (seed mean; band: min-max)")
        ax.set_xlabel("labels")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("test MAE")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    suffix = "_quick" if args.quick else ""
    work = WORK.with_name(WORK.name + suffix)
    selection = json.loads((args.results_dir / f"foundation_selection{suffix}.json").read_text())
    default = selection["package_default"]
    featurizer_params = {
        "model": default["model"],
        "layer": default["layer"],
        "pooling": default["pooling"],
        "cache_dir": str(FEATURE_CACHE),
    }
    estimator_params = {"nu": default["nu"], "device": "cpu"}
    rows, elapsed, records_by_dataset, overlap, left_out = [], {}, {}, {}, {}
    path = args.results_dir / f"al_study{suffix}.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    earlier_elapsed = earlier.get("foundation_1000", {}).get("elapsed_s", {})
    for name in args.datasets:
        spec = {**DATASETS[name], **(QUICK if args.quick else {})}
        data = load_dataset(spec["dataset"], target=spec["target"])
        keep = describable(data.structures)
        left_out[name] = [str(i) for i in np.asarray(data.ids)[~keep]]
        structures, target, ids = data.structures[keep], data.target[keep], np.asarray(data.ids)[keep]
        chosen = selection["datasets"].get(spec["dataset"], {}).get("chosen", {})
        log_target = bool(chosen.get("log_target"))
        common = {
            "seeds": args.seeds,
            "n_test": spec["n_test"],
            "n_pool": spec["n_pool"],
            "n_initial": PROTOCOL["n_initial"],
            "budget": spec["budget"],
            "eval_every": PROTOCOL["eval_every"],
            "log_target": log_target,
        }
        start = time.perf_counter()
        paper = run_campaigns(
            structures,
            target,
            ids,
            strategies=("entropy", "random"),
            batch_size={"entropy": 1, "random": PROTOCOL["batch_size"]},
            refit_every=None,
            warm_start=False,
            representation="graph",
            estimator_params={"epochs": 5} if args.quick else {},
            out_dir=work / name / "scratch",
            title=f"{spec['dataset']} ({data.target_name}), the paper's system",
            **common,
        )["records"]
        elapsed[f"{name}/scratch"] = _elapsed(start, earlier_elapsed.get(f"{name}/scratch"))
        start = time.perf_counter()
        foundation = run_campaigns(
            structures,
            target,
            ids,
            strategies=FOUNDATION_ACQUISITIONS,
            batch_size=PROTOCOL["batch_size"],
            refit_every=PROTOCOL["refit_every"],
            representation="foundation",
            featurizer_params=featurizer_params,
            estimator_params=estimator_params,
            out_dir=work / name / "foundation",
            title=f"{spec['dataset']} ({data.target_name}), GP on {default['model']} features",
            **common,
        )["records"]
        elapsed[f"{name}/foundation"] = _elapsed(start, earlier_elapsed.get(f"{name}/foundation"))
        records_by_dataset[name] = {"scratch": paper, default["model"]: foundation}
        overlap[name] = None if args.quick else test_rows_in_selection(spec, target)
        rows += rows_for(name, "scratch", paper, paper, args.seeds, PROTOCOL["n_initial"])
        rows += rows_for(name, default["model"], foundation, paper, args.seeds, PROTOCOL["n_initial"])
        for r in rows[-len(FOUNDATION_ACQUISITIONS) :]:
            print(
                f"{name:14s} {r['representation']:8s} {r['acquisition']:14s} MAE {r['final_mae_test']:.4f} "
                f"± {r['final_mae_test_std']:.4f}  vs paper {r['labels_ratio_vs_paper']}  vs random {r['mae_ratio_vs_random']:.3f}",
                flush=True,
            )
    study = {
        "protocol": {
            **PROTOCOL,
            **(QUICK if args.quick else {}),
            "datasets": {k: DATASETS[k] for k in args.datasets},
            "featurizer_params": featurizer_params,
            "estimator_params": estimator_params,
            "paper_system": "representation='graph', encoder trained on the 50 initial labels then frozen, "
            "max entropy with single queries",
            "seeds": args.seeds,
            "quick": args.quick,
            "test_rows_in_selection": overlap,
            "left_out_no_neighbour_within_5A": left_out,
        },
        "elapsed_s": elapsed,
        "machine": machine_note(),
    }
    merged = earlier or {"rows": []}
    merged["rows"] = [r for r in merged["rows"] if r.get("study") != "foundation_1000"] + rows
    merged["foundation_1000"] = study
    path.write_text(json.dumps(merged, indent=2))
    plot(rows, records_by_dataset, args.results_dir / f"al_foundation{suffix}.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
