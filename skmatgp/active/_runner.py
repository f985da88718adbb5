"""Campaigns side by side: strategies x seeds on one dataset, a fixed test set, files and a plot."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from .._structures import check_structures
from ._campaign import REFIT_EVERY, Campaign
from ._oracles import TableOracle
from ._settings import STRATEGIES
from ._strategies import check_integer

logger = logging.getLogger(__name__)


def split_test_pool(n: int, n_test: int, n_pool: int | None, seed: int, test_seed: int = 0):
    """A test set fixed by ``test_seed`` (the same for every seed and strategy) and a pool
    drawn from the rest by ``seed`` (all of the rest when ``n_pool`` is None)."""
    if n_test >= n:
        raise ValueError(f"n_test ({n_test}) must be smaller than the dataset ({n}).")
    order = np.random.default_rng(test_seed).permutation(n)
    test, rest = np.sort(order[:n_test]), order[n_test:]
    if n_pool is not None:
        if n_pool > len(rest):
            raise ValueError(f"n_pool ({n_pool}) exceeds the {len(rest)} structures left.")
        rest = np.random.default_rng([test_seed, seed]).choice(rest, n_pool, replace=False)
    return test, np.sort(rest)


def labels_ratio(records, strategy: str, baseline: str = "random", metric: str = "test_mae"):
    """Queries the baseline makes to reach its final ``metric`` (its whole budget) divided by
    the queries ``strategy`` needs to first reach that value, from the seed-mean curves.

    Returns ``(ratio, queries_needed)``; ``(None, None)`` if the strategy never gets there
    (then it needs more labels than the baseline).
    """

    def mean_curve(name):
        rows = [r for r in records if r["strategy"] == name and metric in r]
        n_labels = sorted({r["n_labels"] for r in rows})
        return n_labels, [np.mean([r[metric] for r in rows if r["n_labels"] == n]) for n in n_labels]

    base_n, base_curve = mean_curve(baseline)
    n, curve = mean_curve(strategy)
    if not base_n or not n:
        return None, None
    n_initial, target = base_n[0], base_curve[-1]
    budget = base_n[-1] - n_initial
    for labels, value in zip(n, curve):
        if value <= target and labels > n_initial:
            needed = labels - n_initial
            return budget / needed, needed
    return None, None


def run_campaigns(
    structures,
    targets,
    ids,
    *,
    strategies=("random", "batch_entropy"),
    seeds=(0, 1, 2),
    n_test: int = 200,
    n_pool: int | None = None,
    n_initial: int = 50,
    budget: int = 200,
    batch_size: int | dict = 10,
    eval_every: int | None = None,
    refit_every: int | None = REFIT_EVERY,
    warm_start: bool = True,
    representation: str = "foundation",
    featurizer_params: dict | None = None,
    estimator_params: dict | None = None,
    log_target: bool = False,
    graph_cache: dict | None = None,
    out_dir="skmatgp-results",
    title: str | None = None,
    verbose: int = 0,
) -> dict:
    """Run every strategy for every seed on a fixed test set; write the results.

    Writes ``history.csv`` and ``history.json`` (one row per step: strategy, seed, labels,
    test MAE / RMSE / NLL / 95% coverage, remaining-pool MAE, chosen ids, timings),
    ``summary.json`` (final metrics, labels ratios, and ``settings``: n_test, n_pool,
    n_initial, budget, batch_size, eval_every, refit_every, warm_start, log_target,
    representation, featurizer_params, estimator_params) and ``learning_curve.png`` into
    ``out_dir``. ``batch_size`` may be a dict by strategy. Each campaign's state lives in
    ``out_dir/state/<strategy>-seed<seed>`` so an interrupted run resumes. Crystal graphs or
    features are built once per structure (pass ``graph_cache`` to share them with other
    calls). ``representation``, ``featurizer_params`` and ``estimator_params`` are
    :class:`Campaign`'s.
    ``log_target=True`` fits every campaign's GP on log(y) (see :class:`Campaign`).
    """
    # every argument checked here, before the structures are read and the first campaign runs:
    # a bad value for the last seed or strategy must not surface after hours of the others
    if isinstance(strategies, str):
        raise TypeError(
            f"strategies must be a list of names, got the string {strategies!r}; pass [{strategies!r}]."
        )
    strategies, seeds = list(strategies), list(seeds)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if not strategies or unknown:
        raise ValueError(f"strategies must be a non-empty list from {STRATEGIES}, got {strategies!r}.")
    if not seeds:
        raise ValueError("seeds must hold at least one seed.")
    seeds = [check_integer("each seed", seed, 0) for seed in seeds]
    n_test = check_integer("n_test", n_test, 1)
    n_pool = check_integer("n_pool", n_pool, 1, none="all the structures not in the test set")
    n_initial = check_integer("n_initial", n_initial, 3)
    budget = check_integer("budget", budget, 1)
    if isinstance(batch_size, dict):
        missing = [s for s in strategies if s not in batch_size]
        if missing:
            raise ValueError(f"batch_size is a dict by strategy without an entry for {missing}.")
        batch_size = {s: check_integer(f"batch_size[{s!r}]", b, 1) for s, b in batch_size.items()}
    else:
        batch_size = check_integer("batch_size", batch_size, 1)
    eval_every = check_integer("eval_every", eval_every, 1, none="every step")
    refit_every = check_integer("refit_every", refit_every, 1, none="never refit")
    structures = check_structures(structures)
    n = len(structures)
    targets, ids = np.asarray(targets, dtype=float).reshape(-1), [str(i) for i in ids]
    if len(targets) != n or len(ids) != n:
        raise ValueError(
            f"Got {n} structures, {len(targets)} targets and {len(ids)} ids; pass one of each per structure."
        )
    if n_test >= n:
        raise ValueError(f"n_test ({n_test}) must be smaller than the dataset ({n}).")
    if n_pool is not None and n_pool > n - n_test:
        raise ValueError(f"n_pool ({n_pool}) exceeds the {n - n_test} structures left.")
    pool_size = n - n_test if n_pool is None else n_pool
    if n_initial + budget > pool_size:
        raise ValueError(
            f"n_initial + budget ({n_initial} + {budget} = {n_initial + budget}) must be at most "
            f"the pool size ({pool_size}{'' if n_pool is not None else f': the {n} structures less n_test'})."
        )
    settings = {  # how the figures were made, for summary.json; checked here, not after hours
        "n_test": n_test,
        "n_pool": n_pool,
        "n_initial": n_initial,
        "budget": budget,
        "batch_size": batch_size,
        "eval_every": eval_every,
        "refit_every": refit_every,
        "warm_start": warm_start,
        "log_target": bool(log_target),
        "representation": representation,
        "featurizer_params": featurizer_params or {},
        "estimator_params": estimator_params or {},
    }
    json.dumps(settings)  # the rest reach each campaign's state.json, which needs JSON too
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    targets = np.asarray(targets, dtype=float)
    ids = [str(i) for i in ids]
    records = []
    graph_cache = {} if graph_cache is None else graph_cache
    for seed in seeds:
        test, pool = split_test_pool(len(targets), n_test, n_pool, seed)
        cache: dict = {}
        for strategy in strategies:
            campaign = Campaign(
                structures[pool],
                [ids[i] for i in pool],
                TableOracle(ids, targets),
                test=(structures[test], targets[test]),
                pool_targets=targets[pool],
                strategy=strategy,
                n_initial=n_initial,
                budget=budget,
                batch_size=batch_size[strategy] if isinstance(batch_size, dict) else batch_size,
                refit_every=refit_every,
                warm_start=warm_start,
                representation=representation,
                featurizer_params=featurizer_params,
                estimator_params=estimator_params,
                log_target=log_target,
                random_state=seed,
                state_dir=out / "state" / f"{strategy}-seed{seed}",
                model_cache=cache,
                graph_cache=graph_cache,
                eval_every=eval_every,
                verbose=verbose,
            )
            state = campaign.run()
            records.extend(state["history"])
            last = state["history"][-1]
            logger.info("%s seed %d: test MAE %.4f", strategy, seed, last["test_mae"])
    summary = summarise(records, strategies, seeds)
    summary["settings"] = settings
    _write(out, records, summary, title)
    return {"records": records, "summary": summary}


def summarise(records, strategies, seeds) -> dict:
    final = {}
    for strategy in strategies:
        rows = [r for r in records if r["strategy"] == strategy and "test_mae" in r]
        last_n = max(r["n_labels"] for r in rows)
        ends = [r for r in rows if r["n_labels"] == last_n]
        final[strategy] = {
            key: {
                "mean": float(np.mean([r[key] for r in ends])),
                "std": float(np.std([r[key] for r in ends])),
                "per_seed": [r[key] for r in ends],
            }
            for key in ("test_mae", "test_coverage95", "test_nll", "pool_mae")
            if key in ends[0]
        }
    ratios = {}
    if "random" in strategies:
        for strategy in strategies:
            if strategy == "random":
                continue
            test_ratio, needed = labels_ratio(records, strategy)
            pool_ratio, pool_needed = labels_ratio(records, strategy, metric="pool_mae")
            ratios[strategy] = {
                "labels_ratio_test": test_ratio,
                "queries_needed_test": needed,
                "labels_ratio_pool": pool_ratio,
                "queries_needed_pool": pool_needed,
            }
    return {"seeds": list(seeds), "final": final, "labels_ratio": ratios}


def _write(out: Path, records, summary, title) -> None:
    from ..plotting import plot_learning_curves

    (out / "history.json").write_text(json.dumps(records, indent=1))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    columns = sorted({k for r in records for k in r}, key=lambda k: (k != "strategy", k))
    with (out / "history.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for r in records:
            writer.writerow({**r, "chosen_ids": " ".join(r["chosen_ids"])})
    fig = plot_learning_curves(records, title=title)
    fig.savefig(out / "learning_curve.png", dpi=120)
