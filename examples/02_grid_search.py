"""
Tuning the model with GridSearchCV
==================================

:class:`~skmatgp.GNNGPRegressor` is a scikit-learn estimator, so the usual model selection
tools work on the whole Pipeline. Here ``GridSearchCV`` compares a small grid (the width of
the graph convolutions and the smoothness of the GP's Matérn kernel) by cross-validated mean
absolute error, then the best pipeline, refitted on all the training data, predicts a
held-out test set.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run (a few epochs on 60 structures).
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report
from skmatgp.plotting import plot_parity

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
data = load_dataset("elastic_tensor_2015")
X_train, X_test, y_train, y_test = train_test_split(
    data.structures,
    data.target,
    train_size=60 if smoke else 500,
    test_size=20 if smoke else 200,
    random_state=0,
)

# %%
# The search
# ----------
# Step names are the lower-cased class names, so the regressor's parameters are
# ``gnngpregressor__<name>`` (and the transformer's ``crystalgraphtransformer__<name>``). The
# graphs are rebuilt for every fit; to search only the regressor's parameters faster, build
# the graphs once and search over ``GNNGPRegressor`` alone. ``n_jobs=1`` keeps this example
# on one core; ``n_jobs=2`` or more runs the fits in parallel.
pipe = make_pipeline(
    CrystalGraphTransformer(),
    GNNGPRegressor(
        epochs=2 if smoke else 60, gp_iterations=10 if smoke else 100, embedding_dim=16, random_state=0
    ),
)
grid = {
    "gnngpregressor__hidden_channels": [16, 48],
    "gnngpregressor__gp_nu": [0.5, 2.5],
}
search = GridSearchCV(
    pipe,
    grid,
    cv=KFold(2 if smoke else 3, shuffle=True, random_state=0),
    scoring="neg_mean_absolute_error",
    n_jobs=1,
)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"best cross-validated MAE: {-search.best_score_:.4f}")

# %%
# Results
# -------
# ``cv_results_`` holds the score of every combination on every fold. The refitted best
# pipeline (``search.best_estimator_``, also used by ``search.predict``) is then checked on
# the held-out test set, with its standard deviation.
results = search.cv_results_
names = [
    f"{p['gnngpregressor__hidden_channels']} ch., nu={p['gnngpregressor__gp_nu']}" for p in results["params"]
]
mae = -results["mean_test_score"]
mean, std = search.best_estimator_.predict(X_test, return_std=True)
report = regression_report(y_test, mean, std)
print({k: round(v, 4) for k, v in report.items()})

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
order = np.argsort(mae)
left.barh(np.array(names)[order], mae[order], xerr=results["std_test_score"][order], color="tab:blue")
left.invert_yaxis()
left.set_xlabel("cross-validated MAE, log10(GPa) (error bar: std over folds)")
left.set_title("GridSearchCV, best first")
plot_parity(y_test, mean, std, ax=right, title=f"best pipeline on the test set, MAE {report['mae']:.3f}")
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("grid_search.png", dpi=120)
