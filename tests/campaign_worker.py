"""Runs one small campaign; the SIGKILL test starts, kills and restarts it as a subprocess."""

import sys
import time

import numpy as np

from skmatgp.active import Campaign, TableOracle
from skmatgp.datasets import load_dataset
from tests.conftest import TINY


def make_campaign(state_dir, strategy="batch_entropy", delay=0.0, log_target=False):
    data = load_dataset()
    sizes = np.array([len(s) for s in data.structures])
    idx = np.argsort(sizes, kind="stable")[:90]
    table = TableOracle(data.ids[idx], data.target[idx])

    def slow_oracle(ids, structures):
        time.sleep(delay)  # a label takes time: the kill lands mid-step
        return table(ids)

    return Campaign(
        data.structures[idx[:70]],
        data.ids[idx[:70]],
        slow_oracle,
        test=(data.structures[idx[70:]], data.target[idx[70:]]),
        pool_targets=data.target[idx[:70]],
        strategy=strategy,
        n_initial=10,
        budget=24,
        batch_size=3,
        refit_every=12,
        representation="graph",
        estimator_params=TINY,
        log_target=log_target,
        random_state=0,
        state_dir=state_dir,
    )


if __name__ == "__main__":
    make_campaign(sys.argv[1], strategy=sys.argv[2], delay=float(sys.argv[3])).run()
