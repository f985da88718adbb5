"""
A campaign with labels from outside, interrupted and resumed
=============================================================

When labels come from a DFT workflow or a person, an active-learning campaign runs in
several sittings. :class:`skmatgp.active.Campaign` with a :class:`~skmatgp.active.FileOracle`
does this through two CSV files in a folder:

1. ``run()`` chooses structures, writes their ids to ``requests.csv``, saves its state in
   ``state_dir`` and returns with status ``"waiting"``;
2. someone computes the labels and appends rows ``id,value`` to ``labels.csv``;
3. ``run()`` again (here from a new ``Campaign`` object, as a new process would) resumes from
   the saved state, until it needs labels again or the budget is spent (status ``"done"``).

Here the "DFT workflow" is a lookup of the known shear moduli of the bundled
``elastic_tensor_2015`` dataset, and everything happens in a temporary folder.

Set ``SKMATGP_SMOKE=1`` for a seconds-long run.
"""

import csv
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from skmatgp.active import Campaign, FileOracle, split_test_pool
from skmatgp.datasets import load_dataset

smoke = bool(os.environ.get("SKMATGP_SMOKE"))
data = load_dataset("elastic_tensor_2015")
test, pool = split_test_pool(
    len(data.target), n_test=20 if smoke else 200, n_pool=40 if smoke else 400, seed=0
)
truth = dict(zip(data.ids, data.target))  # what the outside world would compute

folder = Path(tempfile.mkdtemp(prefix="skmatgp-campaign-"))
labels_folder, state_dir = folder / "labels", folder / "state"


def new_campaign():
    """The same arguments every time: a resumed campaign must match the saved state."""
    return Campaign(
        data.structures[pool],
        data.ids[pool],
        FileOracle(labels_folder),
        test=(data.structures[test], data.target[test]),
        strategy="batch_entropy",
        n_initial=10 if smoke else 60,
        budget=10 if smoke else 80,
        batch_size=5 if smoke else 20,
        # a GP on frozen SevenNet-0 features (the default representation), cached on disk
        featurizer_params={"cache_dir": "auto"},
        estimator_params={"gp_iterations": 10 if smoke else 100},
        random_state=0,
        state_dir=state_dir,
    )


# %%
# The first run stops at once
# ---------------------------
# The campaign draws its initial set at random and asks for its labels: there are none yet,
# so it writes ``requests.csv`` and returns.
state = new_campaign().run()
print("status:", state["status"])
print((labels_folder / "requests.csv").read_text().splitlines()[:4], "...")

# %%
# Labels arrive, the campaign resumes
# -----------------------------------
# Each time it waits, we "compute" the requested labels and append them to ``labels.csv``
# (a header row ``id,...`` and blank lines are skipped), then run a new ``Campaign`` with the
# same arguments. It resumes from ``state_dir``: it refits the model it had (a deterministic
# function of the labels, the refit points and the seed; here a GP on cached SevenNet-0
# features), sends the new labels to the Gaussian process, measures the test set, and
# queries the next batch.
sittings = 1
while state["status"] == "waiting":
    with open(labels_folder / "requests.csv", newline="") as fh:
        requested = [row["id"] for row in csv.DictReader(fh)]
    new_file = not (labels_folder / "labels.csv").exists()
    with open(labels_folder / "labels.csv", "a", newline="") as fh:
        writer = csv.writer(fh)
        if new_file:
            writer.writerow(["id", "value"])
        writer.writerows([i, f"{truth[i]:.6f}"] for i in requested)
    state = new_campaign().run()
    sittings += 1
    print(f"sitting {sittings}: {len(state['labels'])} labels, status {state['status']!r}")

# %%
# What the saved history holds
# ----------------------------
# The state (``state_dir/state.json``) keeps every step's record: the ids chosen, the test
# metrics and timings. Here the test MAE and 95% interval coverage against the labels.
history = [r for r in state["history"] if "test_mae" in r]
n_labels = [r["n_labels"] for r in history]
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
left.plot(n_labels, [r["test_mae"] for r in history], marker="o")
left.set_ylabel("MAE on the fixed test set, log10(GPa)")
right.plot(n_labels, [r["test_coverage95"] for r in history], marker="o")
right.axhline(0.95, color="gray", linestyle="--", label="nominal 0.95")
right.set_ylabel("95% interval coverage (test)")
right.legend()
for ax in (left, right):
    ax.set_xlabel("labelled structures")
    ax.grid(alpha=0.3)
fig.suptitle(f"batch-entropy campaign, {sittings} sittings")
fig.tight_layout()
if "__file__" in globals():  # run as a script (the gallery keeps its own copy of the figure)
    fig.savefig("campaign_file_oracle.png", dpi=120)

shutil.rmtree(folder)  # a real campaign keeps its folder: state.json, requests.csv, labels.csv
