"""A persisted active-learning campaign: label, update, query, repeat; resumable after any crash.

The model at every step is a deterministic function of the labelled ids in the order they
arrived, the refit schedule and the seed. So the saved state is small (ids, labels, which
batches arrived when, the metrics so far; ``_campaign_state.py`` reads, checks and writes
it) and a restarted campaign rebuilds the model by refitting at the last refit point (every
refit, when they warm-start) and replaying the GP updates batch by batch: bit for bit on the
CPU (tested); CUDA kernels may not be deterministic. Received labels are saved before any
model work, so a crash costs compute, never a label. Queries come from the acquisition
registry (``_acquisitions.py``) or a modAL-signature callable.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from tqdm.auto import tqdm

from .._arrays import object_array
from .._gp import ExactGPPosterior, PoolVariance
from .._gp_regressor import GPRegressor
from .._graphs import CrystalGraphTransformer
from .._log_target import fitted_log_target
from .._pipeline import update_estimator
from .._prediction_table import write_prediction_csv
from .._regressor import GNNGPRegressor
from .._structures import check_structures, find_duplicate_structures
from .._target import TargetTransform
from .._warnings import warn_user
from ..metrics import regression_report
from ._acquisitions import ACQUISITIONS, GPPool, Pool, PredictedPool, density_weights
from ._campaign_state import CampaignState, data_digests
from ._settings import N_REFERENCE, REFIT_EVERY, REPRESENTATIONS
from ._strategies import check_integer

logger = logging.getLogger(__name__)


def _name(strategy) -> str:
    """A callable strategy's name in the state's settings and history: module.qualname."""
    qualname = getattr(strategy, "__qualname__", type(strategy).__qualname__)
    return f"{getattr(strategy, '__module__', type(strategy).__module__)}.{qualname}"


def _describe(estimator) -> dict:
    """An estimator's class and parameters as JSON, for the state's settings and cache keys."""
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if hasattr(value, "get_params"):
            value = _describe(value)
        else:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = repr(value)
        params[name] = value
    return {"class": f"{type(estimator).__module__}.{type(estimator).__qualname__}", "params": params}


class Campaign:
    """One active-learning run over a pool of structures.

    Parameters
    ----------
    pool : sequence of Structure
        Candidates to label. Never contains the test structures.
    pool_ids : sequence of str
        A unique id per pool structure (labels are asked for and saved by id).
    oracle : callable
        ``oracle(ids, structures) -> labels``; returning ``None`` means "not yet" (see
        :class:`FileOracle`): the campaign saves its state and stops with status "waiting".
        An oracle with a ``review(answered, requested, pool_ids)`` method (FileOracle) is
        asked at the start of every run for labels changed since the campaign read them;
        each such correction replaces the saved label (recorded in ``state["corrections"]``,
        with a warning naming the file and row) and the model is rebuilt with it; the
        structures chosen so far stay chosen. FileOracle's rules for label files written by
        people (duplicates, decimal commas, a byte-order mark, ids never requested, missing
        or non-numeric values) are in the user guide, "Label files": each row is read by a
        rule, with a warning naming the row where the rule changed or skipped something, or
        refused naming the row.
    test : (structures, targets), optional
        The fixed held-out test set the metrics are measured on.
    pool_targets : array, optional
        Known pool labels (benchmarks only): adds the paper's measure, MAE on the
        remaining pool, beside the test metrics.
    strategy : str or callable, default="random"
        A name from the acquisition registry, each picking as the query strategy of the same
        kind does: "random": uniform; "entropy": max predictive entropy (top-k);
        "batch_entropy": greedy joint entropy of the batch; "ivr": greedy integrated variance
        reduction over 500 reference pool points; "density_entropy": entropy weighted by
        density (mean kernel similarity to the pool); "kcenter": k-center greedy (core-set) in
        the embedding space; "lcmd": largest cluster maximum distance in the GP kernel's
        geometry, the labelled points as first centres; "kmeanspp": k-means++ seeding in the
        GP posterior's geometry (these two, diversity-aware batches from Holzmüller et al.,
        JMLR 2023, as :func:`lcmd_sampling` and :func:`kmeanspp_sampling` pick them). All but
        "random" and "entropy" need a GPRegressor or GNNGPRegressor. Or a query strategy with
        modAL's signature, ``strategy(model, X_candidates, n_instances) -> (indices, ...)``:
        it gets the fitted model (inside a LogTargetRegressor with ``log_target``) and what
        the model takes for the unlabelled structures; it must choose alike on a rerun for a
        resumed campaign to choose alike. How the strategies compare on real data:
        ``benchmarks/RESULTS.md``, "Active learning".
    n_initial : int
        Labels drawn at random before the first model is fitted.
    budget : int
        Labels to query after the initial set.
    batch_size : int
        Labels queried per step.
    refit_every : int or None, default=125
        Refit the model (the GP hyperparameters, and with ``representation="graph"`` the
        encoder) each time this many new labels have arrived since the last refit; None keeps
        the first model and only conditions the GP on new labels (the paper's protocol). The
        default is the schedule of the study in ``benchmarks/RESULTS.md``, "Active learning".
    warm_start : bool, default=True
        ``representation="graph"`` (an estimator with ``warm_start``) only: refits continue
        training the current encoder
        (cheaper: fewer epochs to converge) instead of starting from new weights. A resumed
        campaign replays every refit.
    representation : {"foundation", "graph"}, default="foundation"
        What the GP sees. "foundation": features of a frozen pretrained universal potential
        (:class:`~skmatgp.FoundationFeaturizer`, SevenNet-0 by default) and a
        :class:`~skmatgp.GPRegressor`; nothing is trained on the labels but the GP, so a
        refit is cheap. "graph": crystal graphs and a :class:`~skmatgp.GNNGPRegressor`
        whose encoder trains on the labels (the paper's system; for many labels).
    featurizer_params : dict, optional
        ``representation="foundation"``: parameters of the FoundationFeaturizer.
    estimator : estimator, optional
        The model, on what ``representation`` makes of the structures (a feature matrix, or
        crystal graphs): any regressor whose ``predict`` takes ``return_std=True``. It is
        cloned for every fit, so the object passed is never fitted; the campaign sets its
        ``random_state`` (and an ``"auto"`` ``gp_head`` to "exact") where it has them. A
        GPRegressor or GNNGPRegressor gets rank-1 GP updates between refits and every
        strategy; any other regressor is updated (or refitted on every label) after each
        batch and takes "random", "entropy" or a callable strategy. Default: a GPRegressor
        ("foundation") or GNNGPRegressor ("graph") with ``estimator_params``.
    estimator_params : dict, optional
        Parameters of the default estimator, the GPRegressor (``representation="foundation"``)
        or the GNNGPRegressor (``"graph"``); random_state is set by the campaign.
    log_target : bool, default=False
        Fit the GP on log(y), as :class:`~skmatgp.LogTargetRegressor` does, for a positive,
        heavy-tailed property (labels must be positive). Test metrics and the pool MAE are
        on y (the log-normal's median and delta-method std), and the acquisitions score y
        as the query strategies do through a LogTargetRegressor: the entropies add the
        log-scale mean mu, variance reduction weighs each reference point by exp(2 mu).
    graph_params : dict, optional
        ``representation="graph"``: parameters of the CrystalGraphTransformer.
    random_state : int
        Seeds the initial set, random queries and every model fit.
    state_dir : path, optional
        Where the state is saved after every step; rerunning with the same arguments and
        folder resumes. One process at a time: ``run`` and ``refit`` hold a lock on the file
        ``state_dir/lock`` (released when they return, and by the system when the process
        dies, even by SIGKILL), and a second process gets an error naming the folder and the
        PID that holds it. A damaged ``state.json`` (empty, truncated, not a campaign's) is
        refused with a ValueError naming the file, what is wrong and what to do.
    model_cache : dict, optional
        Shared between campaigns that start alike (same seed, initial set and settings,
        different strategies) so that their first model is trained once.
    graph_cache : dict, optional
        Shared between campaigns over the same structures (other seeds, strategies or
        models) so that each structure's crystal graph (or features) is built once; keyed by
        the settings and pool id, and by the test set's digest.
    eval_every : int, optional
        Measure the test (and pool) metrics only when the label count reaches a multiple of
        this, and at the start and end; every step when None. Saves time on long runs of
        single queries.
    results_dir : path, optional
        Where a finished campaign writes its fitted model and its predictions over the pool:
        ``model.pt``, written by :func:`skmatgp.save` (read by :func:`skmatgp.load` and
        ``skmatgp predict``): a Pipeline of the featurizer (or graph transformer) and the
        fitted GP, so it takes structures; with ``log_target=True`` its last step is the GP
        inside a LogTargetRegressor, as ``skmatgp fit --log-target`` saves it; and ``pool_predictions.csv``, ``id,mean,std,lower95,upper95``
        for every pool structure (with ``log_target`` the median, the delta-method std and
        the log-normal's interval). A rerun of a finished campaign writes them again if they
        are missing or a label was corrected, and :meth:`refit` rewrites them. Needs a
        GPRegressor or GNNGPRegressor (what :func:`skmatgp.save` writes).
    verbose : int
        Progress bar over steps when > 0.
    """

    def __init__(
        self,
        pool,
        pool_ids,
        oracle,
        *,
        test=None,
        pool_targets=None,
        strategy="random",
        n_initial: int = 50,
        budget: int = 100,
        batch_size: int = 1,
        refit_every: int | None = REFIT_EVERY,
        warm_start: bool = True,
        representation: str = "foundation",
        featurizer_params: dict | None = None,
        estimator=None,
        estimator_params: dict | None = None,
        log_target: bool = False,
        graph_params: dict | None = None,
        random_state: int = 0,
        state_dir=None,
        model_cache: dict | None = None,
        graph_cache: dict | None = None,
        eval_every: int | None = None,
        results_dir=None,
        verbose: int = 0,
    ):
        if not (strategy in ACQUISITIONS or callable(strategy)):
            raise ValueError(
                f"strategy must be one of {tuple(ACQUISITIONS)} or a query strategy with modAL's "
                f"signature, got {strategy!r}."
            )
        # the counts first, before the pool's structures are read: plain ints (numpy's become
        # int, so that the state's JSON takes them), in range, or a ValueError naming them
        n_initial = check_integer("n_initial", n_initial, 3)
        budget = check_integer("budget", budget, 1)
        batch_size = check_integer("batch_size", batch_size, 1)
        refit_every = check_integer("refit_every", refit_every, 1, none="never refit")
        eval_every = check_integer("eval_every", eval_every, 1, none="every step")
        self.pool = check_structures(pool)
        self.pool_ids = [str(i) for i in pool_ids]
        if len(self.pool_ids) != len(self.pool):
            raise ValueError(f"pool has {len(self.pool)} structures but pool_ids has {len(self.pool_ids)}.")
        if len(set(self.pool_ids)) != len(self.pool_ids):
            raise ValueError("pool_ids must be unique; each id names one structure to label.")
        if n_initial + budget > len(self.pool):
            raise ValueError(
                f"n_initial ({n_initial}) must be >= 3 and n_initial + budget "
                f"({n_initial + budget}) at most the pool size ({len(self.pool)})."
            )
        self.oracle = oracle
        self.test = test
        self.pool_targets = None if pool_targets is None else np.asarray(pool_targets, float)
        self.strategy = strategy
        self._strategy_name = strategy if isinstance(strategy, str) else _name(strategy)
        self.n_initial = n_initial
        self.budget = budget
        self.batch_size = batch_size
        self.refit_every = refit_every
        self.warm_start = warm_start
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}.")
        self.representation = representation
        self.featurizer_params = dict(featurizer_params or {})
        if representation == "graph" and self.featurizer_params:
            raise ValueError(
                "featurizer_params are for representation='foundation'; a graph campaign takes "
                "graph_params (the CrystalGraphTransformer's)."
            )
        if representation == "foundation" and graph_params:
            raise ValueError(
                "graph_params are for representation='graph'; a foundation campaign takes "
                "featurizer_params (the FoundationFeaturizer's)."
            )
        if self.featurizer_params.get("on_error", "raise") != "raise":
            raise ValueError(
                "A campaign needs features for every structure, so featurizer_params cannot "
                "set on_error; leave the structures the model cannot handle out of the pool."
            )
        self.estimator = estimator
        self.estimator_params = dict(estimator_params or {})
        self._check_estimator(results_dir)
        duplicates = find_duplicate_structures(self.pool)
        if duplicates:
            named = "; ".join(
                f"{i} (id {self.pool_ids[i]}) and {j} (id {self.pool_ids[j]})" for i, j in duplicates[:5]
            )
            warnings.warn(
                f"The pool holds {len(duplicates)} duplicate structure(s): identical pool structures "
                f"{named}{' ...' if len(duplicates) > 5 else ''}. Each copy stays a candidate, so the "
                "campaign may spend a label on both; remove the later copies "
                "(skmatgp.find_duplicate_structures lists the pairs).",
                UserWarning,
                stacklevel=2,
            )
        self.log_target = bool(log_target)
        self.target = TargetTransform.of(self.log_target)  # what the model is fitted on, and back
        if self.pool_targets is not None and self.target.outside_domain(self.pool_targets).any():
            bad = [self.pool_ids[i] for i in np.flatnonzero(self.target.outside_domain(self.pool_targets))]
            raise ValueError(
                f"log_target=True fits log(y), so the targets must be positive; {len(bad)} are not, "
                f"ids {bad[:10]}{' ...' if len(bad) > 10 else ''}. Leave those structures out, or "
                "run without log_target."
            )
        self.graph_params = dict(graph_params or {})
        if self.graph_params.get("on_error", "raise") != "raise":
            raise ValueError(
                "A campaign needs a graph for every structure, so graph_params cannot set "
                "on_error; find the structures without one with "
                "CrystalGraphTransformer(on_error='warn').transform(pool) and leave them out."
            )
        self._check_model_params()
        self.random_state = random_state
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.model_cache = model_cache
        self.graph_cache = graph_cache
        self.eval_every = eval_every
        self.results_dir = None if results_dir is None else Path(results_dir)
        self.verbose = verbose
        self._index = {structure_id: i for i, structure_id in enumerate(self.pool_ids)}

    def _check_estimator(self, results_dir) -> None:
        """Refuse an estimator the campaign cannot use, before any label is paid for."""
        if self.estimator is None:
            params = self.estimator_params
        else:
            if self.estimator_params:
                raise ValueError(
                    "estimator_params set the default estimator's parameters; set them on the "
                    "estimator you pass instead."
                )
            if not hasattr(self.estimator, "fit") or not hasattr(self.estimator, "get_params"):
                raise TypeError(
                    f"estimator must be a scikit-learn regressor, got {type(self.estimator).__name__}."
                )
            params = self.estimator.get_params(deep=False)
        if params.get("gp_head", "auto") not in ("auto", "exact"):
            raise ValueError(
                f"A campaign needs rank-1 GP updates, which gp_head={params['gp_head']!r} "
                "does not have; use gp_head='exact' (campaigns use it whatever the label count)."
            )
        ours = self.estimator is None or isinstance(self.estimator, (GPRegressor, GNNGPRegressor))
        if isinstance(self.strategy, str) and ACQUISITIONS[self.strategy].needs_gp and not ours:
            raise ValueError(
                f"strategy {self.strategy!r} needs a GPRegressor or GNNGPRegressor, got a "
                f"{type(self.estimator).__name__}; use 'random', 'entropy' or a callable strategy."
            )
        if results_dir is not None and not ours:
            raise ValueError(
                f"results_dir saves the model with skmatgp.save, which takes a GPRegressor or "
                f"GNNGPRegressor, not a {type(self.estimator).__name__}; leave results_dir out."
            )

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict:
        """Run (or resume) until the budget is spent or the oracle has no labels yet.

        Returns the state: ``status`` ("done" or "waiting"), ``history`` (one record per
        step: test metrics, pool MAE, chosen ids, timings), ``labels`` by id.
        """
        self.store_ = self._state()
        with self.store_.one_writer():
            return self._run()

    def _run(self) -> dict:
        state = self.store_.load()
        corrected = self._apply_corrections(state)
        if state["status"] == "done":
            if self.results_dir is not None and (corrected or not self._results_written()):
                self._prepare(state)
                self._write_results(state)
            return state
        state["status"] = "running"
        self._prepare(state)
        if len(state["history"]) < len(state["batches"]):  # crashed after saving labels
            self._record(state, state.get("step_timings", {}))
        total = self.n_initial + self.budget
        bar = tqdm(
            total=total,
            initial=len(state["labels"]),
            unit="label",
            desc=f"{self._strategy_name} seed {self.random_state}",
            disable=not self.verbose,
        )
        while True:
            step = len(state["batches"])
            n_labels = sum(len(b) for b in state["batches"])
            timings = {}
            if state["pending"] is None:
                if n_labels >= total:
                    break
                start = time.perf_counter()
                if step == 0:
                    chosen = self._rng(0).choice(len(self.pool), self.n_initial, replace=False)
                    chosen = [int(i) for i in chosen]
                else:
                    chosen = self._query(state, step)
                timings["query_s"] = time.perf_counter() - start
                state["pending"] = {
                    "ids": [self.pool_ids[i] for i in chosen],
                    "timings": timings,
                }
                self._save(state)
            pending = state["pending"]
            indices = [self._index[i] for i in pending["ids"]]
            start = time.perf_counter()
            labels = self._ask(indices)
            if labels is None:
                state["status"] = "waiting"
                self._save(state)
                bar.close()
                return state
            timings = {**pending["timings"], "label_s": time.perf_counter() - start}
            # save the labels before any model work: a crash from here on costs compute only
            state["labels"].update(zip(pending["ids"], labels.tolist()))
            state["batches"].append(pending["ids"])
            state["pending"] = None
            since_refit = n_labels + len(indices) - (state["refits"][-1] if state["refits"] else 0)
            refit = not state["refits"] or bool(self.refit_every and since_refit >= self.refit_every)
            if refit:
                state["refits"].append(n_labels + len(indices))
            state["step_timings"] = timings
            self._save(state)
            start = time.perf_counter()
            if refit:
                self._fit(*self._labelled(state), len(state["refits"]) - 1)
                timings["refit_s"] = time.perf_counter() - start
            else:
                self._update(indices, labels)
                timings["update_s"] = time.perf_counter() - start
            self._record(state, timings)
            bar.update(len(indices))
        bar.close()
        state["status"] = "done"
        self._save(state)
        if self.results_dir is not None:
            self._write_results(state)
        return state

    def refit(self) -> dict:
        """Refit the encoder and GP hyperparameters on every label so far, now.

        The refit is saved in the state, so later runs (and rebuilds after a crash) start from
        it. Use it between runs, e.g. while waiting for labels, or after a batch of outside
        labels that changed what the model should learn.
        """
        self.store_ = self._state()
        with self.store_.one_writer():
            return self._refit()

    def _refit(self) -> dict:
        state = self.store_.load()
        self._apply_corrections(state)
        if not state["batches"]:
            raise ValueError("Nothing to refit on yet: run the campaign to get labels first.")
        self._prepare(state)
        order, labels = self._labelled(state)
        self._fit(order, labels, len(state["refits"]))
        state["refits"].append(len(order))
        self._save(state)
        if state["status"] == "done" and self.results_dir is not None:  # the results' model changed
            self._write_results(state)
        return state

    def _prepare(self, state: dict) -> None:
        self.graphs_ = self._build_graphs(self.pool, [f"pool:{i}" for i in self.pool_ids])
        if self.test is not None:
            test = check_structures(self.test[0])
            digest = self._data_digests["test_sha256"]
            self.test_graphs_ = self._build_graphs(test, [f"test:{digest}:{i}" for i in range(len(test))])
        if state["refits"]:
            self._rebuild(state)

    # ------------------------------------------------------------------ steps
    def _query(self, state: dict, step: int) -> list[int]:
        labelled = sorted(set(self._labelled(state)[0]))
        remaining = self.budget + self.n_initial - len(labelled)
        k = min(self.batch_size, remaining)
        if callable(self.strategy):
            return self._ask_strategy(labelled, k)
        acquisition = ACQUISITIONS[self.strategy]
        if self.gp_:
            pool = GPPool(
                self.pool_Z_,
                self.model_.posterior_,
                regressor=self.model_,
                target=self.target,
                tracker=self.tracker_,
                centres=self.pool_Z_[labelled],
                log_density=getattr(self, "log_density_", None),
            )
        elif acquisition.measure is None:
            pool = Pool(len(self.pool))
        else:
            pool = PredictedPool(self._predict()[1])
        chosen, _ = acquisition.select(pool, k, exclude=labelled, rng=self._rng(step))
        return chosen

    def _ask_strategy(self, labelled: list[int], k: int) -> list[int]:
        """The picks of a modAL-signature strategy among the unlabelled structures."""
        candidates = np.setdiff1d(np.arange(len(self.pool)), labelled)
        result = self.strategy(self._learner(), self.graphs_[candidates], n_instances=k)
        picks = np.asarray(result[0] if isinstance(result, tuple) else result).reshape(-1)
        if not (
            len(picks) == k
            and np.issubdtype(picks.dtype, np.integer)
            and len(set(picks.tolist())) == k
            and 0 <= picks.min()
            and picks.max() < len(candidates)
        ):
            raise ValueError(
                f"The strategy {self._strategy_name} returned {picks!r} for n_instances={k} over "
                f"{len(candidates)} candidates; it must return {k} distinct positions in X_pool "
                "(as (indices, scores), as modAL's strategies do)."
            )
        return [int(candidates[i]) for i in picks]

    def _ask(self, indices: list[int]):
        ids = [self.pool_ids[i] for i in indices]
        labels = self.oracle(ids, self.pool[indices])
        if labels is None:
            return None
        labels = np.asarray(labels, dtype=float).reshape(-1)
        if len(labels) != len(ids) or not np.all(np.isfinite(labels)):
            raise ValueError(
                f"The oracle returned {labels!r} for ids {ids}: it must return one finite number per id."
            )
        if self.target.outside_domain(labels).any():
            bad = [i for i, outside in zip(ids, self.target.outside_domain(labels)) if outside]
            raise ValueError(
                f"The oracle returned {len(bad)} label(s) <= 0, ids {bad[:10]}"
                f"{' ...' if len(bad) > 10 else ''}; log_target=True fits log(y), so every label "
                "must be positive. Fix the labels, or run without log_target."
            )
        return labels

    def _record(self, state: dict, timings: dict) -> None:
        """Measure the step whose labels were saved last, and save its record."""
        n_after = sum(len(b) for b in state["batches"])
        n_before = n_after - len(state["batches"][-1])
        step = len(state["batches"]) - 1
        state["history"].append(self._evaluate(state, step, timings, self._due(n_before, n_after)))
        state.pop("step_timings", None)
        self._save(state)

    def _due(self, n_before: int, n_after: int) -> bool:
        if self.eval_every is None or n_before == 0 or n_after >= self.n_initial + self.budget:
            return True
        return n_after // self.eval_every > n_before // self.eval_every

    def _evaluate(self, state: dict, step: int, timings: dict, measure: bool) -> dict:
        start = time.perf_counter()
        n_labels = sum(len(b) for b in state["batches"])
        record = {
            "step": step,
            "n_labels": n_labels,
            "strategy": self._strategy_name,
            "seed": self.random_state,
            "chosen_ids": state["batches"][-1],
            **timings,
        }
        if not measure:
            return record
        if self.test is not None:
            mean, std = self._predict(test=True)
            report = regression_report(self.test[1], mean, std)
            record.update({f"test_{k}": v for k, v in report.items()})
        if self.pool_targets is not None:
            labelled = set(self._labelled(state)[0])
            rest = np.array(sorted(set(range(len(self.pool))) - labelled))
            if len(rest):
                mean, _ = self._predict(rest)
                record["pool_mae"] = float(np.mean(np.abs(mean - self.pool_targets[rest])))
        record["eval_s"] = time.perf_counter() - start
        return record

    # ------------------------------------------------------------------ the model
    def _new_model(self, seed: int):
        """An unfitted model, seeded: a clone of ``estimator``, or the representation's
        default GP; an exact GP head (rank-1 updates) whatever the label count."""
        if self.estimator is None:
            params = {**self.estimator_params, "random_state": seed}
            if params.get("gp_head", "auto") == "auto":
                params["gp_head"] = "exact"
            return (GNNGPRegressor if self.representation == "graph" else GPRegressor)(**params)
        model = clone(self.estimator)
        params = model.get_params(deep=False)
        settings = {"random_state": seed} if "random_state" in params else {}
        if params.get("gp_head") == "auto":
            settings["gp_head"] = "exact"
        return model.set_params(**settings)

    def _warm_refits(self) -> bool:
        """Refits continue training the encoder (graph campaigns with ``warm_start``)."""
        if not self.warm_start or self.representation != "graph":
            return False
        return self.estimator is None or "warm_start" in self.estimator.get_params(deep=False)

    def _fit(self, labelled: list[int], y: np.ndarray, n_refit: int) -> None:
        seed = int(self._rng(10**6 + n_refit).integers(2**31 - 1))
        model = self._new_model(seed)
        parts = [self.pool_ids[i] for i in labelled]
        parts += [_describe(model), self.graph_params, self.representation, self._featurizer_key()]
        if self.log_target:  # a model of log(y) is another model
            parts.append("log_target")
        parts.append(hashlib.sha256(np.asarray(y, dtype=float).tobytes()).hexdigest())  # corrections
        key = json.dumps(parts, sort_keys=True, default=str)
        self.seed_, self.labelled_ = seed, (list(labelled), np.asarray(y, dtype=float))
        y = self.target.forward(y, fitter="log_target=True")
        warm = n_refit > 0 and self._warm_refits()
        if warm:
            self.model_.set_params(warm_start=True, random_state=seed)
            self.model_.fit(self.graphs_[labelled], y)
        elif self.model_cache is not None and key in self.model_cache:
            self.model_ = copy.deepcopy(self.model_cache[key])
        else:
            self.model_ = model.fit(self.graphs_[labelled], y)
            if self.model_cache is not None:
                self.model_cache[key] = copy.deepcopy(self.model_)
        self.gp_ = isinstance(getattr(self.model_, "posterior_", None), ExactGPPosterior)
        if self.gp_:
            self._track_pool(key, warm)

    def _track_pool(self, key: str, warm: bool) -> None:
        """The GP's features of the pool and the test set, and the pool tracker (its
        variances, kept current by rank-1 updates); the features of a cached model are
        cached too (same pool and test set only)."""
        digests = self._data_digests
        embeddings_key = f"{key}|embeddings|{digests['pool_ids_sha256']}|{digests['test_sha256']}"
        cached = self.model_cache.get(embeddings_key) if self.model_cache is not None else None
        if cached is None or warm:
            embed = self.model_.embed
            cached = (embed(self.graphs_), embed(self.test_graphs_) if self.test is not None else None)
            if self.model_cache is not None and not warm:
                self.model_cache[embeddings_key] = cached
        device = self.model_.device_
        self.pool_Z_ = torch.tensor(cached[0], device=device)
        self.test_Z_ = None if cached[1] is None else torch.tensor(cached[1], device=device)
        reference = None
        if self.strategy == "ivr":
            size = min(N_REFERENCE, len(self.pool))
            reference = torch.as_tensor(
                self._rng(2 * 10**6).choice(len(self.pool), size, replace=False), device=device
            )
        self.tracker_ = PoolVariance(
            self.model_.posterior_, self.pool_Z_, capacity=self.budget, reference=reference
        )
        if self.strategy == "density_entropy":
            self.log_density_ = torch.log(density_weights(self.pool_Z_, self.model_.posterior_.kernel))

    def _update(self, indices: list[int], y: np.ndarray) -> None:
        """Condition the model on new labels: a GP and its pool tracker by rank-1 updates
        (the tracker may already be conditioned on them: a greedy query does that), O(n m)
        per label; another model by its ``update``, or a refit on every label so far."""
        labelled, labels = self.labelled_
        self.labelled_ = (labelled + list(indices), np.concatenate([labels, y]))
        y = self.target.forward(y, fitter="log_target=True")
        model = self.model_
        if self.gp_:
            y_std = torch.as_tensor((y - model.y_mean_) / model.y_scale_, device=model.device_)
            model.posterior_.add_pool_points(self.tracker_, indices, y_std)
        elif not update_estimator(model, self.graphs_[indices], y):
            labelled, labels = self.labelled_
            labels = self.target.forward(labels, fitter="log_target=True")
            self.model_ = self._new_model(self.seed_).fit(self.graphs_[labelled], labels)

    def _labelled(self, state: dict, count: int | None = None) -> tuple[list[int], np.ndarray]:
        """Pool indices of the labelled structures in arrival order (the first ``count``),
        and their labels."""
        ids = [i for batch in state["batches"] for i in batch][:count]
        return [self._index[i] for i in ids], np.array([state["labels"][i] for i in ids])

    def _rebuild(self, state: dict) -> None:
        """Recreate the model from the saved state: the last refit (every refit, when they
        warm-start), then the updates since."""
        last_refit = state["refits"][-1]
        replay = range(len(state["refits"])) if self._warm_refits() else [len(state["refits"]) - 1]
        for n_refit in replay:
            self._fit(*self._labelled(state, state["refits"][n_refit]), n_refit)
        seen = 0
        for batch in state["batches"]:
            if seen >= last_refit:
                self._update([self._index[i] for i in batch], np.array([state["labels"][i] for i in batch]))
            seen += len(batch)

    def _raw_prediction(self, rows=None, test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The model's mean and std on the scale it is fitted on (log y with a log target)
        over the pool (``rows`` of it) or the test set: from the GP's features where it keeps
        them."""
        rows = slice(None) if rows is None else rows
        if self.gp_:
            return self.model_.predict_from_embeddings(self.test_Z_ if test else self.pool_Z_[rows])
        return self.model_.predict(self.test_graphs_ if test else self.graphs_[rows], return_std=True)

    def _predict(self, rows=None, test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of y: the log-normal's median and delta-method std with a log target."""
        return self.target.mean_std(*self._raw_prediction(rows, test))

    def _learner(self):
        """The fitted model as a query strategy sees it: a model of y, so inside a
        LogTargetRegressor with a log target."""
        return fitted_log_target(self.model_) if self.log_target else self.model_

    # ------------------------------------------------------------------ features
    def _build_graphs(self, structures, keys: list[str]) -> np.ndarray:
        """Crystal graphs of the structures, taken from (and added to) the graph cache."""
        cache = self.graph_cache if self.graph_cache is not None else {}
        settings = json.dumps([self.graph_params, self._featurizer_key()], sort_keys=True)
        keys = [f"{settings}|{key}" for key in keys]
        missing = [i for i, key in enumerate(keys) if key not in cache]
        if missing:
            built = self._featurizer().fit_transform(structures[missing])
            cache.update(zip([keys[i] for i in missing], built))
        if self.representation == "graph":
            return object_array([cache[key] for key in keys])
        return np.stack([cache[key] for key in keys])

    def _featurizer(self):
        """The transformer from structures to what the model takes. Foundation features are
        cached on disk by default (``cache_dir="auto"``), so a resumed campaign reads them."""
        if self.representation == "graph":
            return CrystalGraphTransformer(**self.graph_params)
        from .._foundation import FoundationFeaturizer

        return FoundationFeaturizer(**{"cache_dir": "auto", **self.featurizer_params})

    def _check_model_params(self) -> None:
        """Refuse parameters the representation's featurizer or estimator does not take now,
        not at the first fit (after the initial labels were paid for)."""
        estimator = GNNGPRegressor if self.representation == "graph" else GPRegressor
        other = "'foundation'" if self.representation == "graph" else "'graph'"
        for what, make, params in (
            ("featurizer_params", self._featurizer, self.featurizer_params),
            ("estimator_params", lambda: estimator(**self.estimator_params), self.estimator_params),
        ):
            try:
                make()
            except TypeError as exc:
                raise ValueError(
                    f"{what} {sorted(params)} do not fit representation={self.representation!r} "
                    f"({exc}); they may be meant for representation={other}."
                ) from None

    def _featurizer_key(self) -> dict | None:
        """The featurizer's parameters that change its output (None for graphs, whose
        settings are graph_params), for the state's settings and the caches' keys."""
        if self.representation == "graph":
            return None
        params = self._featurizer().get_params()
        return {k: v for k, v in params.items() if k in ("model", "layer", "pooling")}

    # ------------------------------------------------------------------ state
    @functools.cached_property
    def _data_digests(self) -> dict:
        """Digests of the pool ids, the test set and the pool labels, computed once."""
        test = None if self.test is None else check_structures(self.test[0])
        return data_digests(
            self.pool_ids,
            None if test is None else [s.composition.formula for s in test],
            None if test is None else self.test[1],
            self.pool_targets,
        )

    def _config(self) -> dict:
        return {
            **self._data_digests,
            "strategy": self._strategy_name,
            "n_initial": self.n_initial,
            "budget": self.budget,
            "batch_size": self.batch_size,
            "refit_every": self.refit_every,
            "warm_start": self.warm_start,
            "estimator_params": self.estimator_params,
            "graph_params": self.graph_params,
            # only when not "graph", so that states saved before the option existed still resume
            **(
                {"representation": self.representation, "featurizer_params": self._featurizer_key()}
                if self.representation != "graph"
                else {}
            ),
            "random_state": self.random_state,
            "eval_every": self.eval_every,
            # only when set, so that states saved before the options existed still resume
            **({"log_target": True} if self.log_target else {}),
            **({"estimator": _describe(self.estimator)} if self.estimator is not None else {}),
        }

    def _state(self) -> CampaignState:
        return CampaignState(self.state_dir, self._config(), self.pool_ids)

    def _save(self, state: dict) -> None:
        self.store_.save(state)

    def _rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.random_state, step])

    # ------------------------------------------------------------------ labels and results
    def _apply_corrections(self, state: dict) -> bool:
        """Ask an oracle that can review its labels (a FileOracle) for values changed since
        the campaign read them, and apply them: the state's label is replaced, the change
        recorded in ``state["corrections"]``, and the model is rebuilt with it."""
        review = getattr(self.oracle, "review", None)
        if review is None:
            return False
        pending = state["pending"]["ids"] if state["pending"] else []
        corrections = review(dict(state["labels"]), pending, self.pool_ids)
        n_labels = sum(len(batch) for batch in state["batches"])
        for structure_id, (value, where) in corrections.items():
            old = state["labels"][structure_id]
            if self.target.outside_domain(value):
                raise ValueError(
                    f"{where} changes the label of id {structure_id!r} from {old!r} to {value!r}, but "
                    "log_target=True fits log(y), so every label must be positive. Fix that row."
                )
            state["labels"][structure_id] = float(value)
            state.setdefault("corrections", []).append(
                {"id": structure_id, "old": old, "new": float(value), "where": where, "n_labels": n_labels}
            )
            warn_user(
                f"{where} corrects the label of id {structure_id!r}, read earlier as {old!r}, to "
                f"{value!r}: the campaign uses the new value from now on (its model is rebuilt "
                "with it; the structures chosen so far stay chosen)."
            )
        if corrections:
            self._save(state)
        return bool(corrections)

    def _results_written(self) -> bool:
        folder = Path(self.results_dir)
        return (folder / "model.pt").is_file() and (folder / "pool_predictions.csv").is_file()

    def _structure_model(self):
        """The campaign's fitted model as one that takes structures, so that the saved file
        predicts y from structures (``skmatgp predict``): a Pipeline of the featurizer (or
        graph transformer) and the GP, which a log target wraps in a LogTargetRegressor, as
        ``skmatgp fit`` saves its model (the features are computed once for the mean, the std
        and the interval)."""
        from sklearn.pipeline import Pipeline

        name = "gnngp" if self.representation == "graph" else "gp"
        featurizer = "graphs" if self.representation == "graph" else "features"
        return Pipeline([(featurizer, self._featurizer()), (name, self._learner())])

    def _write_results(self, state: dict) -> None:
        """``model.pt`` (:func:`skmatgp.save`, read by :func:`skmatgp.load`) and the pool's
        predictions, ``pool_predictions.csv``."""
        from .._model_files import save

        folder = Path(self.results_dir)
        folder.mkdir(parents=True, exist_ok=True)
        mu, s = self._raw_prediction()  # with a log target: median, delta-method std, log-normal interval
        mean, std = self.target.mean_std(mu, s)
        interval = self.target.interval(mu, s, level=0.95)
        write_prediction_csv(folder / "pool_predictions.csv", self.pool_ids, mean, std, interval=interval)
        try:
            save(self._structure_model(), folder / "model.pt")  # atomic: a temporary file renamed
        except TypeError as exc:  # a model skmatgp's files cannot hold (another estimator, encoder)
            warnings.warn(
                f"The campaign's model cannot be written as a skmatgp model file ({exc}), so "
                f"{folder / 'model.pt'} is not written; {folder / 'pool_predictions.csv'} is. "
                "Keep the model with joblib.dump if you trust the files you load.",
                UserWarning,
                stacklevel=3,
            )
