"""
Pretrained features against a trained encoder
=============================================

A GP on the frozen features of SevenNet-0, a universal interatomic potential pretrained on
Materials Project relaxations (:class:`~skmatgp.FoundationFeaturizer` then
:class:`~skmatgp.GPRegressor`), against the paper's system, a CGCNN-style encoder trained on
the same labels with the same GP head on its embeddings (:class:`~skmatgp.GNNGPRegressor`).
Both learn the log10 shear modulus of the bundled ``elastic_tensor_2015`` from 200 labels
and predict the same held-out structures with a standard deviation. Shear moduli were not
among SevenNet-0's training targets.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run (60 labels, small fits).
"""

import os

import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, FoundationFeaturizer, GNNGPRegressor, GPRegressor
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report
from skmatgp.plotting import plot_parity

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
data = load_dataset("elastic_tensor_2015")
X_train, X_test, y_train, y_test = train_test_split(
    data.structures,
    data.target,
    train_size=60 if smoke else 200,
    test_size=40 if smoke else 300,
    random_state=0,
)

# %%
# Two models, one GP head
# -----------------------
# The featurizer caches each structure's features on disk (``cache_dir="auto"``), so a second
# fit, a grid search or a campaign over the same structures does not run the potential again.
iterations = 10 if smoke else 100
models = {
    "GP on SevenNet-0 features": make_pipeline(
        FoundationFeaturizer(cache_dir="auto"), GPRegressor(gp_iterations=iterations, random_state=0)
    ),
    "trained encoder + GP (the paper's system)": make_pipeline(
        CrystalGraphTransformer(),
        GNNGPRegressor(epochs=3 if smoke else 150, gp_iterations=iterations, random_state=0),
    ),
}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, (name, model) in zip(axes, models.items()):
    model.fit(X_train, y_train)
    mean, std = model.predict(X_test, return_std=True)
    report = regression_report(y_test, mean, std)
    print(f"{name}: MAE {report['mae']:.4f}, 95% coverage {report['coverage95']:.2f}")
    plot_parity(
        y_test, mean, std, ax=ax, title=f"{name}\nMAE {report['mae']:.3f}, cov95 {report['coverage95']:.2f}"
    )
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("foundation_features.png", dpi=120)
