"""
Active learning with modAL: entropy queries
===========================================

A hand-written active-learning loop with :class:`skmatgp.active.ActiveLearner`, modAL's
learner made to work with current scikit-learn and with arrays of structures or graphs.
The learner starts from a few labelled structures, asks for the pool structure of largest
predictive entropy (:func:`~skmatgp.active.max_entropy_sampling`), is taught its label, and
repeats. Beside it, the same loop with random queries; both are measured on a fixed
held-out test set.

``teach(..., only_new=True)`` conditions the Gaussian process on the new label and leaves the
encoder as it is: each step costs a fraction of a second instead of a retraining.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.active import ActiveLearner, max_entropy_sampling, random_sampling, split_test_pool
from skmatgp.datasets import load_dataset

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
n_initial, n_queries = (12, 8) if smoke else (100, 150)

# %%
# Graphs once, a fixed test set
# -----------------------------
# Every query predicts the whole pool. Building the crystal graphs once and giving the learner
# a bare :class:`~skmatgp.GNNGPRegressor` saves rebuilding them at every step (a Pipeline
# works too, but transforms the pool each time). ``split_test_pool`` draws the test set
# once; it is never part of the pool.
data = load_dataset("elastic_tensor_2015")
test, pool = split_test_pool(
    len(data.target), n_test=20 if smoke else 200, n_pool=40 if smoke else None, seed=0
)
graphs = CrystalGraphTransformer().fit_transform(data.structures)
G_test, y_test = graphs[test], data.target[test]
rng = np.random.default_rng(0)
initial = rng.choice(pool, n_initial, replace=False)
rest = np.setdiff1d(pool, initial)


def model():
    return GNNGPRegressor(epochs=3 if smoke else 150, gp_iterations=10 if smoke else 100, random_state=0)


def test_mae(learner):
    return float(np.mean(np.abs(learner.predict(G_test) - y_test)))


# %%
# The loop
# --------
# ``query`` returns positions in the pool array it was given; the loop removes the labelled
# structures from its pool itself.
curves = {}
for name, strategy in [("max entropy", max_entropy_sampling), ("random", random_sampling)]:
    learner = ActiveLearner(
        estimator=model(),
        query_strategy=strategy,
        X_training=graphs[initial],
        y_training=data.target[initial],
    )
    remaining = rest.copy()
    n_labels, mae = [n_initial], [test_mae(learner)]
    for step in range(n_queries):
        kwargs = {"random_state": step} if strategy is random_sampling else {}
        idx, _ = learner.query(graphs[remaining], n_instances=1, **kwargs)
        chosen = remaining[idx]
        learner.teach(graphs[chosen], data.target[chosen], only_new=True)
        remaining = np.delete(remaining, idx)
        n_labels.append(n_labels[-1] + 1)
        mae.append(test_mae(learner))
    curves[name] = (n_labels, mae)
    print(f"{name}: test MAE {mae[0]:.4f} with {n_labels[0]} labels, {mae[-1]:.4f} with {n_labels[-1]}")

# %%
# Test MAE against labels
# -----------------------
# Both learners share their first model (same seed, same initial labels), so the curves
# start together. With the encoder frozen the GP on a fixed embedding has limited room to
# improve; the paper reproduction in these docs measures this at scale, over three seeds.
fig, ax = plt.subplots(figsize=(6, 4.5))
for name, (n_labels, mae) in curves.items():
    ax.plot(n_labels, mae, label=name)
ax.set_xlabel("labelled structures")
ax.set_ylabel("MAE on the fixed test set, log10(GPa)")
ax.set_title("modAL loop, one query at a time, encoder frozen")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("modal_entropy_loop.png", dpi=120)
