"""The ``skmatgp`` command."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _cross_validate(args) -> int:
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline

    from . import CrystalGraphTransformer, GNNGPRegressor
    from .datasets import load_dataset
    from .metrics import regression_report

    data = load_dataset(args.dataset, data_home=args.data_home, target=args.target)
    if args.max_samples:
        keep = np.random.default_rng(args.seed).permutation(len(data.target))[: args.max_samples]
        data.structures, data.target = data.structures[keep], data.target[keep]
    print(f"{args.dataset}: {len(data.target)} structures, target {data.target_name}")
    print(next(line for line in data.DESCR.splitlines() if line.startswith("Cite")))
    folds = KFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    reports = []
    for fold, (train, test) in enumerate(folds.split(data.target)):
        model = make_pipeline(
            CrystalGraphTransformer(),
            GNNGPRegressor(epochs=args.epochs, random_state=args.seed, verbose=args.verbose),
        )
        start = time.perf_counter()
        model.fit(data.structures[train], data.target[train])
        fit_s = time.perf_counter() - start
        mean, std = model.predict(data.structures[test], return_std=True)
        report = regression_report(data.target[test], mean, std)
        report["fit_s"] = fit_s
        reports.append(report)
        print(
            f"fold {fold + 1}/{args.folds}: MAE {report['mae']:.4f}  "
            f"95% coverage {report['coverage95']:.3f}  fit {fit_s:.0f} s",
            flush=True,
        )
    summary = {key: float(np.mean([r[key] for r in reports])) for key in reports[0]}
    spread = {key: float(np.std([r[key] for r in reports])) for key in reports[0]}
    print(
        f"mean over {args.folds} folds: MAE {summary['mae']:.4f} ± {spread['mae']:.4f}  "
        f"95% coverage {summary['coverage95']:.3f}  NLL {summary['nll']:.3f}  "
        f"fit {summary['fit_s']:.0f} s per fold"
    )
    if args.output:
        with open(args.output, "w") as fh:
            json.dump({"dataset": args.dataset, "target": data.target_name,
                       "folds": reports, "mean": summary, "std": spread}, fh, indent=2)
        print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skmatgp", description="GNN + Gaussian process surrogates for materials."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cv = commands.add_parser(
        "cv", help="cross-validate the pipeline on a dataset; print MAE and 95% coverage"
    )
    cv.add_argument("--dataset", default="elastic_tensor_2015")
    cv.add_argument("--target", default=None, help="target name (default: the dataset's)")
    cv.add_argument("--data-home", default=None, help="folder with dataset files")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--epochs", type=int, default=150, help="maximum encoder epochs")
    cv.add_argument("--seed", type=int, default=0)
    cv.add_argument("--max-samples", type=int, default=None,
                    help="use a random subset of this many structures (quick checks)")
    cv.add_argument("--output", default=None, help="write the per-fold metrics to this JSON")
    cv.add_argument("--verbose", type=int, default=0)
    cv.set_defaults(run=_cross_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"skmatgp: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
