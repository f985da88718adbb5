"""The cost of one query step with the encoder frozen: incremental vs from scratch.

n = 5,000 labelled structures, a pool of 5,000 (mp_2020). Incremental: append one Cholesky
row to the GP (new label) and one row to the pool tracker (its variances). From scratch:
factorise K(5001 x 5001) and recompute the pool variances. Same embeddings, same
hyperparameters, same process, so the ratio is what matters on a noisy machine.

    python benchmarks/al_update_cost.py   # about 5 min on 2 cores
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from protocol import RESULTS

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp._gp import ExactGPPosterior, PoolVariance
from skmatgp.datasets import load_dataset

N_LABELLED, N_POOL, N_REPEATS = 5000, 5000, 20


def main() -> None:
    data = load_dataset("mp_2020")
    idx = np.random.default_rng(0).permutation(len(data.target))[: N_LABELLED + N_POOL]
    graphs = CrystalGraphTransformer().fit_transform(data.structures[idx])
    y = data.target[idx]
    # the encoder's quality does not change the linear algebra timed below
    model = GNNGPRegressor(epochs=5, random_state=0).fit(graphs[:1000], y[:1000])
    Z = torch.as_tensor(model.embed(graphs))
    y_std = torch.as_tensor((y - model.y_mean_) / model.y_scale_)
    post = model.posterior_
    labelled, pool = slice(0, N_LABELLED), slice(N_LABELLED, N_LABELLED + N_POOL)
    Z_pool, y_pool = Z[pool], y_std[pool]

    def fresh():
        posterior = ExactGPPosterior(post.kernel, post.mean, post.noise, Z[labelled], y_std[labelled])
        return posterior, PoolVariance(posterior, Z[pool], capacity=N_REPEATS)

    # campaigns: the tracker's new row is the GP's new Cholesky row, O(n m) in all
    posterior, tracker = fresh()
    start = time.perf_counter()
    for j in range(N_REPEATS):  # pool point j is labelled and joins the training set
        posterior.add_pool_points(tracker, [j], y_pool[j : j + 1])
    incremental = (time.perf_counter() - start) / N_REPEATS

    # GNNGPRegressor.update (the modAL path): a triangular solve per point, O(n^2), plus the tracker
    posterior, tracker = fresh()
    start = time.perf_counter()
    for j in range(N_REPEATS):
        posterior.add_points(Z_pool[j : j + 1], y_pool[j : j + 1])
        tracker.condition_on(j)
    incremental_solve = (time.perf_counter() - start) / N_REPEATS

    start = time.perf_counter()
    for i in range(3):
        rows = torch.cat([Z[labelled], Z_pool[: i + 1]])
        targets = torch.cat([y_std[labelled], y_pool[: i + 1]])
        scratch = ExactGPPosterior(post.kernel, post.mean, post.noise, rows, targets)
        PoolVariance(scratch, Z[pool])
    from_scratch = (time.perf_counter() - start) / 3

    out = {
        "n_labelled": N_LABELLED,
        "n_pool": N_POOL,
        "incremental_s": incremental,
        "incremental_with_solve_s": incremental_solve,
        "from_scratch_s": from_scratch,
        "ratio": from_scratch / incremental,
        "what": "one new labelled point: GP mean (Cholesky row) and pool variances",
        "threads": torch.get_num_threads(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "al_update_cost.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
