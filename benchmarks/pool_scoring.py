"""Scoring a pool of 10^5 structures in chunks: throughput and peak memory.

The pool is mp_2020 cycled (in file order) with every copy's sites perturbed by 0.05 Å (a stand-in for a
generated candidate pool), produced lazily so that the structures are not all in memory at
once either. A model trained briefly on 1,000 mp_2020 structures scores it with
``skmatgp.iter_pool_predictions`` (what ``score_pool`` uses); a thread samples the process's
resident memory meanwhile, and the growth after each chunk is recorded: a flat series
means memory is bounded by the chunk. (A smaller pool covers only the first part of
mp_2020, whose structures differ in size from the rest, so compare series, not pool sizes.)

    python benchmarks/pool_scoring.py [--n-pool 100000] [--chunk-size 2000]   # ~5 min
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from protocol import RESULTS, PeakMemory, rss_mb
from pymatgen.core import Structure
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, iter_pool_predictions
from skmatgp.datasets import load_dataset


def perturbed_pool(structures, n_pool: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n_pool):
        original = structures[i % len(structures)]
        noise = rng.normal(0, 0.05 / np.sqrt(3), (len(original), 3))
        yield Structure(original.lattice, original.species, original.cart_coords + noise,
                        coords_are_cartesian=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-pool", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--output", default="pool_scoring.json", help="file name under results/")
    args = parser.parse_args()
    data = load_dataset("mp_2020")
    train = np.random.default_rng(0).choice(len(data.target), 1000, replace=False)
    model = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(epochs=20, random_state=0))
    model.fit(data.structures[train], data.target[train])
    rss_before = rss_mb()
    monitor = PeakMemory()
    monitor.start()
    start = time.perf_counter()
    means, stds, rss_after_chunk = [], [], []
    for _, mean, std in iter_pool_predictions(
        model, perturbed_pool(data.structures, args.n_pool), args.chunk_size
    ):
        means.append(mean)
        stds.append(std)
        rss_after_chunk.append(round(rss_mb() - rss_before, 1))
    mean, std = np.concatenate(means), np.concatenate(stds)
    elapsed = time.perf_counter() - start
    monitor.running = False
    monitor.join()
    out = {
        "n_pool": args.n_pool,
        "chunk_size": args.chunk_size,
        "structures_per_s": args.n_pool / elapsed,
        "seconds": elapsed,
        "peak_rss_mb": monitor.peak,
        "rss_before_scoring_mb": rss_before,
        "peak_minus_before_mb": monitor.peak - rss_before,
        "rss_growth_after_each_chunk_mb": rss_after_chunk,
        "finite": bool(np.all(np.isfinite(mean)) and np.all(std > 0)),
        "what": "structures -> graphs -> embeddings -> GP mean and std, single process; the "
        "rss before scoring includes mp_2020 loaded as Structures and the model",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
