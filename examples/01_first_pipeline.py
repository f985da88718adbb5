"""
A first pipeline, with a parity plot
====================================

Structures in, a property with a calibrated standard deviation out.
:class:`~skmatgp.CrystalGraphTransformer` turns pymatgen structures into crystal graphs and
:class:`~skmatgp.GNNGPRegressor` trains a graph encoder on them, then fits a Gaussian process
on its embeddings. We fit the pipeline on 80% of the bundled ``elastic_tensor_2015`` dataset
(log10 shear modulus), predict the other 20% with a standard deviation, and draw a parity plot
with 95% intervals beside a calibration curve.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run (3 epochs and 10 GP steps on 60 structures;
the figure is then meaningless).
"""

import os

import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report
from skmatgp.plotting import plot_calibration, plot_parity

smoke = bool(os.environ.get("SKMATGP_SMOKE"))

# %%
# The data
# --------
# ``load_dataset`` returns a Bunch; ``structures`` is a 1-D object array of pymatgen
# ``Structure`` objects, ``target`` the log10 shear modulus in log10(GPa).
data = load_dataset("elastic_tensor_2015")
X_train, X_test, y_train, y_test = train_test_split(
    data.structures, data.target, test_size=0.2, random_state=0
)
if smoke:
    X_train, y_train, X_test, y_test = X_train[:60], y_train[:60], X_test[:20], y_test[:20]
print(f"{len(X_train)} training and {len(X_test)} test structures")

# %%
# Fit and predict
# ---------------
# ``predict(X, return_std=True)`` on the Pipeline is passed on to the regressor and returns the
# predictive mean and standard deviation of y.
model = make_pipeline(
    CrystalGraphTransformer(),
    GNNGPRegressor(epochs=3 if smoke else 150, gp_iterations=10 if smoke else 100, random_state=0),
)
model.fit(X_train, y_train)
mean, std = model.predict(X_test, return_std=True)
report = regression_report(y_test, mean, std)
print({k: round(v, 4) for k, v in report.items()})

# %%
# Parity and calibration
# ----------------------
# Left: predicted against true values, the error bars are 1.96 std (95% intervals). Right:
# the share of test values inside each central interval against the interval's nominal level;
# a calibrated std follows the diagonal.
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.5))
plot_parity(y_test, mean, std, ax=left, title=f"log10 G_VRH, MAE {report['mae']:.3f}")
plot_calibration(y_test, mean, std, ax=right, label=f"95% coverage {report['coverage95']:.2f}")
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("first_pipeline.png", dpi=120)
