"""FoundationFeaturizer's speed against CHGNet's own feature call, same structures, same run.

    python benchmarks/foundation_featurize.py            # 1,000 structures
    python benchmarks/foundation_featurize.py --quick    # 40 structures, a check of the script

The same 1,000 structures of matbench_dielectric (a random subset, seed 0) go through
``FoundationFeaturizer(model="chgnet", layer=-1, pooling="mean", cache_dir=None)`` (the cache
off: this is the cost of a first transform) and through ``CHGNet.predict_structure(structures, return_crystal_feas=True,
batch_size=16)`` (64 ran out of memory), the call CHGNet's documentation gives for its crystal features, one after
the other in one process on the same cores. Both load the model first, untimed. The ratio is
skmatgp's structures per second over CHGNet's. The largest difference between skmatgp's
last-layer mean and CHGNet's ``crystal_fea`` is recorded to show both compute the same
features.

Writes ``benchmarks/results/foundation_featurize.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from protocol import RESULTS, machine_state, write_result

from skmatgp import FoundationFeaturizer
from skmatgp.datasets import load_dataset

N_STRUCTURES, N_QUICK = 1000, 40
# predict_structure keeps the autograd graph of its forces and stresses: with 64 structures a
# batch it ran out of this machine's 24 GiB on matbench_dielectric's larger cells (killed)
REFERENCE_BATCH = 16


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{N_QUICK} structures")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from chgnet.model import CHGNet

    before = machine_state()
    data = load_dataset("matbench_dielectric")
    n = N_QUICK if args.quick else N_STRUCTURES
    structures = data.structures[np.sort(np.random.default_rng(0).permutation(len(data.target))[:n])]

    featurizer = FoundationFeaturizer(model="chgnet", layer=-1, pooling="mean", cache_dir=None)
    featurizer.transform(structures[:2])  # loads the model: untimed
    start = time.perf_counter()
    ours = featurizer.transform(structures)
    skmatgp_s = time.perf_counter() - start

    reference = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
    reference.predict_structure(list(structures[:2]), return_crystal_feas=True)  # warm-up, untimed
    start = time.perf_counter()
    predictions = reference.predict_structure(
        list(structures), return_crystal_feas=True, batch_size=REFERENCE_BATCH
    )
    reference_s = time.perf_counter() - start
    theirs = np.stack([p["crystal_fea"] for p in predictions])
    n_atoms = np.array([len(s) for s in structures])[:, None]

    out = {
        "what": "structures per second: FoundationFeaturizer(model='chgnet') against "
        "CHGNet.predict_structure(return_crystal_feas=True), same structures, same process",
        "dataset": "matbench_dielectric",
        "n_structures": n,
        "mean_atoms": float(np.mean([len(s) for s in structures])),
        "skmatgp_s": skmatgp_s,
        "reference_s": reference_s,
        "skmatgp_per_s": n / skmatgp_s,
        "reference_per_s": n / reference_s,
        "ratio": reference_s / skmatgp_s,
        "max_abs_feature_difference": float(np.abs(ours * n_atoms - theirs).max()),
        "reference_batch_size": REFERENCE_BATCH,
        "torch_threads": torch.get_num_threads(),
        "quick": args.quick,
    }
    write_result(out, args.results_dir / f"foundation_featurize{'_quick' if args.quick else ''}.json", before)


if __name__ == "__main__":
    main()
