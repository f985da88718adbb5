"""
Is the standard deviation calibrated?
=====================================

A predictive standard deviation is useful only if it is calibrated: about 95% of the true
values should fall inside ``mean ± 1.96 std``. :class:`~skmatgp.GNNGPRegressor` rescales its
std on a validation split by default (``calibrate_std=True``), because a GP on the
embeddings of an encoder trained on the same labels is overconfident. This example fits the
model with and without that rescaling and compares them with
:func:`skmatgp.metrics.regression_report` and :func:`skmatgp.plotting.plot_calibration`.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report
from skmatgp.plotting import plot_calibration

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
data = load_dataset("elastic_tensor_2015")
graphs = CrystalGraphTransformer().fit_transform(data.structures)
G_train, G_test, y_train, y_test = train_test_split(
    graphs, data.target, train_size=60 if smoke else 800, test_size=30 if smoke else None, random_state=0
)

# %%
# Two fits, one difference
# ------------------------
# Same seed, same data; the only difference is ``calibrate_std``. ``std_scale_`` is the
# factor the calibrated model applies to the GP's std.
reports, predictions = {}, {}
for calibrate in (False, True):
    model = GNNGPRegressor(
        epochs=3 if smoke else 150,
        gp_iterations=10 if smoke else 100,
        calibrate_std=calibrate,
        random_state=0,
    ).fit(G_train, y_train)
    mean, std = model.predict(G_test, return_std=True)
    name = f"calibrate_std={calibrate}"
    reports[name], predictions[name] = regression_report(y_test, mean, std), (mean, std)
    print(f"{name}: std_scale_ = {model.std_scale_:.3f}")
    print("   ", {k: round(v, 3) for k, v in reports[name].items()})

# %%
# How to read it
# --------------
# ``coverage68`` and ``coverage95`` should be near 0.68 and 0.95; well below means the std
# is too small (overconfident). ``miscalibration_area`` is the mean gap between observed and
# nominal coverage over 99 levels (0 is perfect); ``nll`` rewards accuracy and calibration
# together. Left: the calibration curves; right: the z-scores ``(y - mean) / std``, which a
# calibrated Gaussian std makes close to a standard normal.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
bins = np.linspace(-5, 5, 31)
for name, (mean, std) in predictions.items():
    report = reports[name]
    plot_calibration(
        y_test,
        mean,
        std,
        ax=left,
        label=f"{name}: 95% cov. {report['coverage95']:.2f}, area {report['miscalibration_area']:.3f}",
    )
    right.hist(np.clip((y_test - mean) / std, -5, 5), bins=bins, density=True, alpha=0.5, label=name)
x = np.linspace(-5, 5, 200)
right.plot(x, np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi), color="black", label="standard normal")
right.set_xlabel("z = (y - mean) / std (clipped to ±5)")
right.set_ylabel("density")
right.legend(fontsize="small")
left.legend(fontsize="small")
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("calibration.png", dpi=120)
