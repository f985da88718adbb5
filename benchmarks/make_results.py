"""Regenerate benchmarks/RESULTS.md from the JSON files in benchmarks/results/.

    python benchmarks/make_results.py

Every figure in RESULTS.md is read from a results file written by a benchmark script; a
missing file shows as "not run yet".
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def _load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _fmt(value, digits=4):
    if value is None:
        return "not reached"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def cross_validation() -> list[str]:
    lines = ["## elastic_tensor_2015, 5-fold CV (log10 G_VRH)", ""]
    gnn = _load("elastic_cv.json")
    rf = _load("elastic_tensor_2015_composition_rf.json")
    if not gnn:
        return lines + ["not run yet (`skmatgp cv --output benchmarks/results/elastic_cv.json`)", ""]
    lines += [
        "`skmatgp cv --output benchmarks/results/elastic_cv.json` and "
        "`python benchmarks/composition_baseline.py`; same folds (KFold, shuffle, seed 0).",
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


def active_learning(name: str, title: str) -> list[str]:
    result = _load(f"al_{name}.json")
    lines = [f"## Active learning: {title}", ""]
    if not result:
        return lines + [f"not run yet (`python benchmarks/al_headline.py {name}`)", ""]
    p = result["protocol"]
    lines += [
        f"`python benchmarks/al_headline.py {name}`: {result['dataset']} ({result['target']}), "
        f"fixed test set of {p['n_test']}, pool of {p['n_pool'] or 'all the rest'}, "
        f"{p['n_initial']} initial labels, {p['budget']} queries (batch sizes "
        f"{p['batch_sizes']}), seeds {result['seeds']}; encoder {p['encoder']}. "
        f"Took {result['elapsed_s'] / 60:.0f} min.",
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
        f"![learning curves](results/al_{name}.png)",
        "",
    ]
    return lines


def update_cost() -> list[str]:
    result = _load("al_update_cost.json")
    lines = ["## The cost of a query step (encoder frozen)", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/al_update_cost.py`)", ""]
    return lines + [
        f"`python benchmarks/al_update_cost.py`: {result['n_labelled']} labelled, a pool of "
        f"{result['n_pool']}; {result['what']}; {result['threads']} threads. Incremental: the "
        "campaign path (the pool tracker's new row is the GP's new Cholesky row, O(n m)); with "
        "solve: `GNNGPRegressor.update`, the modAL path (a triangular solve, O(n^2)), plus the "
        "tracker; from scratch: a new Cholesky factor and pool variances.",
        "",
        "| incremental (s) | incremental with solve (s) | from scratch (s) | ratio (scratch / incremental) |",
        "| --- | --- | --- | --- |",
        f"| {result['incremental_s']:.4f} | {result.get('incremental_with_solve_s', float('nan')):.4f} | "
        f"{result['from_scratch_s']:.3f} | {result['ratio']:.0f} |",
        "",
    ]


def pool_scoring() -> list[str]:
    results = [r for r in (_load("pool_scoring_10k.json"), _load("pool_scoring.json")) if r]
    lines = ["## Scoring a huge pool in chunks", ""]
    if not results:
        return lines + ["not run yet (`python benchmarks/pool_scoring.py`)", ""]
    lines += [
        "`python benchmarks/pool_scoring.py [--n-pool 10000 --output pool_scoring_10k.json]`: "
        "perturbed mp_2020 structures, generated lazily, scored by `skmatgp.iter_pool_predictions` "
        f"in chunks of {results[-1]['chunk_size']}; {results[-1]['what']}. If the growth in memory "
        "stops growing after the first chunks, memory is bounded by the chunk, not the pool (a smaller "
        "pool covers only the first part of mp_2020, so compare the series, not the pool sizes).",
        "",
        "| pool | structures/s | seconds | RSS before scoring (MB) | peak RSS (MB) | peak - before (MB) "
        "| growth after chunk 1 / middle / last (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        series = r.get("rss_growth_after_each_chunk_mb")
        growth = (
            f"{series[0]:.0f} / {series[len(series) // 2]:.0f} / {series[-1]:.0f}" if series else "not recorded"
        )
        lines.append(
            f"| {r['n_pool']} | {r['structures_per_s']:.0f} | {r['seconds']:.0f} | "
            f"{r['rss_before_scoring_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['peak_minus_before_mb']:.0f} "
            f"| {growth} |"
        )
    return lines + [""]


def load_time() -> list[str]:
    result = _load("load_time.json")
    lines = ["## Loading datasets into Structures", ""]
    if not result:
        return lines + ["not run yet (`python benchmarks/load_time.py`)", ""]
    lines += [
        "`python benchmarks/load_time.py`",
        "",
        "| dataset | structures | seconds |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {k} | {v['n_structures']} | {v['seconds']:.1f} |" for k, v in result.items()]
    return lines + [""]


def main() -> None:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python benchmarks/make_results.py` from `benchmarks/results/*.json`; "
        "measured on this project's 2-core CPU machines. Do not edit by hand.",
        "",
    ]
    lines += cross_validation()
    lines += active_learning("mp_oxides", "mp_2020 oxides, formation energy (stand-in for the paper's data)")
    lines += active_learning("dielectric", "matbench_dielectric, refractive index")
    lines += update_cost()
    lines += pool_scoring()
    lines += load_time()
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
