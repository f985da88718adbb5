"""A first pipeline: structures in, a property with a calibrated std out.

Fits CrystalGraphTransformer + GNNGPRegressor on 80% of the bundled elastic_tensor_2015
(log10 shear modulus), then draws a parity plot with 95% intervals and a calibration curve.
Set SKMATGP_SMOKE=1 for a seconds-long run (a few epochs; the figure is then meaningless).
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
data = load_dataset("elastic_tensor_2015")
X_train, X_test, y_train, y_test = train_test_split(
    data.structures, data.target, test_size=0.2, random_state=0
)
if smoke:
    X_train, y_train, X_test, y_test = X_train[:60], y_train[:60], X_test[:20], y_test[:20]

model = make_pipeline(
    CrystalGraphTransformer(),
    GNNGPRegressor(epochs=3 if smoke else 150, random_state=0, verbose=1),
)
model.fit(X_train, y_train)
mean, std = model.predict(X_test, return_std=True)
report = regression_report(y_test, mean, std)
print({k: round(v, 4) for k, v in report.items()})

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.5))
plot_parity(y_test, mean, std, ax=left, title=f"log10 G_VRH, MAE {report['mae']:.3f}")
plot_calibration(y_test, mean, std, ax=right, label=f"95% coverage {report['coverage95']:.2f}")
fig.tight_layout()
fig.savefig("first_pipeline.png", dpi=120)
print("wrote first_pipeline.png")
