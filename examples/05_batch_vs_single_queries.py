"""
Batch queries against single queries
====================================

Labelling in batches (one DFT run per structure, many at once) needs a batch that is
worth its cost as a whole. This example fits one model and chooses ``k`` pool structures
three ways:

* **top-k entropy** (:func:`~skmatgp.active.max_entropy_sampling` with ``n_instances=k``):
  the ``k`` largest predictive standard deviations, taken independently;
* **batch entropy** (:func:`~skmatgp.active.batch_entropy_sampling`): greedy joint entropy;
  after each pick the Gaussian process is conditioned on that structure (no label needed),
  so structures close to an earlier pick lose variance;
* **single queries**: ``k`` rounds of one max-entropy query, each followed by its label and
  a GP update (``update``), the way a one-at-a-time loop would run.

With the encoder and GP hyperparameters fixed, the posterior variance does not depend on the
labels, so batch entropy picks exactly what ``k`` single queries pick, in one round. Top-k
picks a different, more redundant set.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run.
"""

import copy
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.active import batch_entropy_sampling, max_entropy_sampling
from skmatgp.datasets import load_dataset

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
k = 5 if smoke else 20

data = load_dataset("elastic_tensor_2015")
rng = np.random.default_rng(0)
order = rng.permutation(len(data.target))
n_train = 30 if smoke else 200
train, pool = order[:n_train], order[n_train : (n_train + 50) if smoke else None]
graphs = CrystalGraphTransformer().fit_transform(data.structures)
model = GNNGPRegressor(epochs=3 if smoke else 150, gp_iterations=10 if smoke else 100, random_state=0).fit(
    graphs[train], data.target[train]
)
G_pool, y_pool = graphs[pool], data.target[pool]
print(f"model fitted on {len(train)} structures; choosing {k} of a pool of {len(pool)}")

# %%
# Three ways to choose k structures
# ---------------------------------
timings, chosen = {}, {}

start = time.perf_counter()
chosen["top-k entropy"], _ = max_entropy_sampling(model, G_pool, n_instances=k)
timings["top-k entropy"] = time.perf_counter() - start

start = time.perf_counter()
chosen["batch entropy"], _ = batch_entropy_sampling(model, G_pool, n_instances=k)
timings["batch entropy"] = time.perf_counter() - start

single = copy.deepcopy(model)  # update() changes the model; keep the original for the others
remaining, picks = np.arange(len(pool)), []
start = time.perf_counter()
for _ in range(k):
    idx, _ = max_entropy_sampling(single, G_pool[remaining], n_instances=1)
    pick = remaining[idx]
    single.update(G_pool[pick], y_pool[pick])  # the label arrives, the GP conditions on it
    picks.append(int(pick[0]))
    remaining = np.delete(remaining, idx)
chosen["single queries"] = np.array(picks)
timings["single queries"] = time.perf_counter() - start

for name, idx in chosen.items():
    print(f"{name:15s} {timings[name]:6.2f} s  {sorted(idx.tolist())}")
same = set(chosen["batch entropy"].tolist()) == set(chosen["single queries"].tolist())
overlap = len(set(chosen["top-k entropy"].tolist()) & set(chosen["batch entropy"].tolist()))
print(f"batch entropy picks the same set as {k} single queries: {same}")
print(f"top-k and batch entropy share {overlap} of {k} structures")

# %%
# How spread out each batch is
# ----------------------------
# The embeddings the GP sees (``model.embed``), projected on their first two principal
# axes: top-k tends to pick neighbours of one another, the joint-entropy batch spreads out.
# Right: the wall time of each way (the single queries include ``k`` GP updates; a real loop
# would also wait for ``k`` rounds of labels instead of one).
Z = model.embed(G_pool)
Z = Z - Z.mean(axis=0)
axes_2d = np.linalg.svd(Z, full_matrices=False)[2][:2].T
P = Z @ axes_2d
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), gridspec_kw={"width_ratios": [3, 2]})
left.scatter(P[:, 0], P[:, 1], s=6, color="lightgray", label="pool")
left.scatter(*P[chosen["top-k entropy"]].T, s=60, marker="x", color="tab:red", label="top-k entropy")
left.scatter(
    *P[chosen["batch entropy"]].T, s=80, facecolors="none", edgecolors="tab:blue", label="batch entropy"
)
left.set_xlabel("embedding PC 1")
left.set_ylabel("embedding PC 2")
left.set_title(f"{k} structures chosen from the pool")
left.legend()
right.bar(list(timings), list(timings.values()), color=["tab:red", "tab:blue", "tab:green"])
right.set_ylabel("wall time (s)")
right.set_title("cost of choosing")
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("batch_vs_single_queries.png", dpi=120)
