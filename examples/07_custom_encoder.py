"""
A pretrained or custom encoder
==============================

``GNNGPRegressor(encoder=...)`` starts from an encoder you already have instead of a new
one:

* the path of a model written by :meth:`GNNGPRegressor.save <skmatgp.GNNGPRegressor.save>`:
  its trained encoder, for example one trained on a related property (transfer). With
  ``epochs=0`` the encoder is used as it is, frozen, and only the Gaussian process is fitted
  (seconds); with ``epochs > 0`` it is fine-tuned on the new labels;
* any ``torch.nn.Module`` with ``embed(batch) -> (B, d)`` (one embedding per graph, what the GP
  sees) and ``forward(batch) -> (B,)`` (the head used while training). Registered with
  :func:`skmatgp.register_encoder`, it is saved and loaded like skmatgp's own encoders.

Here an encoder pretrained on the bulk modulus of one part of ``elastic_tensor_2015`` is
reused for the shear modulus of another part, where only a few labels are known, and
compared with an encoder trained from scratch on those labels and with a small network of
our own that sees only the composition.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch_geometric.nn import global_mean_pool

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, load, register_encoder
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
epochs = 3 if smoke else 150
gp_iterations = 10 if smoke else 100

shear = load_dataset("elastic_tensor_2015")  # log10 G_VRH, the default target
bulk = load_dataset("elastic_tensor_2015", target="log10_K_VRH")
graphs = CrystalGraphTransformer().fit_transform(shear.structures)
order = np.random.default_rng(0).permutation(len(graphs))
n_pretrain, n_few, n_test = (40, 20, 20) if smoke else (700, 100, 300)
pretrain = order[:n_pretrain]  # bulk modulus known
few = order[n_pretrain : n_pretrain + n_few]  # shear modulus known: the new task's labels
test = order[n_pretrain + n_few : n_pretrain + n_few + n_test]

# %%
# Pretrain and save
# -----------------
# The pretraining structures are not among the few labelled or the test structures.
folder = Path(tempfile.mkdtemp(prefix="skmatgp-encoder-"))
pretrained = folder / "bulk_modulus.pt"
GNNGPRegressor(epochs=epochs, gp_iterations=gp_iterations, random_state=0).fit(
    graphs[pretrain], bulk.target[pretrain]
).save(pretrained)

# %%
# An encoder of our own
# ---------------------
# A module that ignores the bonds: a learned vector per element, averaged over the atoms of
# each structure, then a small network. ``batch`` is a PyTorch Geometric ``Batch`` of the
# transformer's graphs, with ``z`` (atomic numbers), ``edge_index``, ``edge_dist`` and
# ``batch`` (the graph each atom belongs to). Its ``kind`` and ``config`` let ``save`` write
# it and ``load`` rebuild it.


@register_encoder
class CompositionEncoder(nn.Module):
    kind = "composition_example"

    def __init__(self, width=32, embedding_dim=16):
        super().__init__()
        self.config = {"width": width, "embedding_dim": embedding_dim}
        self.elements = nn.Embedding(101, width)
        self.readout = nn.Sequential(nn.Linear(width, width), nn.Softplus(), nn.Linear(width, embedding_dim))
        self.head = nn.Linear(embedding_dim, 1)

    def embed(self, batch):
        x = global_mean_pool(self.elements(batch.z), batch.batch, size=batch.num_graphs)
        return self.readout(x)

    def forward(self, batch):
        return self.head(self.embed(batch)).squeeze(-1)


# %%
# Four models on the same few labels
# ----------------------------------
# The module passed as ``encoder`` is copied; each fit trains its own copy.
torch.manual_seed(0)
models = {
    "new encoder": GNNGPRegressor(epochs=epochs),
    "pretrained, frozen\n(epochs=0)": GNNGPRegressor(encoder=pretrained, epochs=0),
    "pretrained,\nfine-tuned": GNNGPRegressor(encoder=pretrained, epochs=epochs // 3),
    "composition\nencoder": GNNGPRegressor(encoder=CompositionEncoder(), epochs=epochs),
}
reports = {}
for name, model in models.items():
    model.set_params(gp_iterations=gp_iterations, random_state=0)
    model.fit(graphs[few], shear.target[few])
    mean, std = model.predict(graphs[test], return_std=True)
    reports[name] = regression_report(shear.target[test], mean, std)
    label = name.replace("\n", " ")
    print(f"{label:30} test MAE {reports[name]['mae']:.4f}, 95% coverage {reports[name]['coverage95']:.2f}")

# %%
# The composition model saved and loaded
# --------------------------------------
# The file holds the encoder's kind, its config and its weights; loading rebuilds it.
models["composition\nencoder"].save(folder / "composition.pt")
reloaded = load(folder / "composition.pt")
same = np.allclose(reloaded.predict(graphs[test]), models["composition\nencoder"].predict(graphs[test]))
print(f"reloaded composition model predicts the same: {same}")

# %%
# Test MAE and coverage
# ---------------------
# With a handful of labels, a representation learned elsewhere can beat one learned from
# those labels alone; how much depends on how related the two properties are.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
names = list(reports)
left.bar(names, [reports[n]["mae"] for n in names], color="tab:blue")
left.set_ylabel("test MAE, log10(GPa)")
left.set_title(f"shear modulus from {n_few} labels")
right.bar(names, [reports[n]["coverage95"] for n in names], color="tab:orange")
right.axhline(0.95, color="gray", linestyle="--", label="nominal 0.95")
right.set_ylim(0, 1)
right.set_ylabel("95% interval coverage (test)")
right.legend(loc="lower right")
for ax in (left, right):
    ax.tick_params(axis="x", labelsize="small")
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("custom_encoder.png", dpi=120)
for file in (pretrained, folder / "composition.pt"):
    file.unlink()
folder.rmdir()
