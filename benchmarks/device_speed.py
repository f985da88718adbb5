"""GPU against CPU: GNNGPRegressor's fit and predict time with device="cuda" and "cpu".

    python benchmarks/device_speed.py              # needs a CUDA device
    python benchmarks/device_speed.py --quick --devices cpu   # a check of the script

Bundled elastic_tensor_2015 (log10 G_VRH), a fixed 80/20 split (seed 0), graphs built once.
Both devices fit the same GNNGPRegressor (default sizes, exact GP head, random_state 0) for
the same number of epochs (``patience`` = ``epochs``, so early stopping cannot end one
sooner); CUDA gets one untimed warm-up fit first (its start-up is not the model's cost).
The CPU uses torch's default thread count, recorded. ``ratio`` is CPU fit time / CUDA fit
time, measured in the same process. The test MAE of each is there to show both devices fit
the same model (other kernels round differently), not to rank anything.

Writes ``benchmarks/results/device_speed.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from protocol import RESULTS, machine_state, write_result

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report


def fit_and_time(device: str, epochs: int, G_train, y_train, G_test, y_test) -> dict:
    model = GNNGPRegressor(epochs=epochs, patience=epochs, gp_head="exact", device=device, random_state=0)
    start = time.perf_counter()
    model.fit(G_train, y_train)
    if device == "cuda":
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    mean, std = model.predict(G_test, return_std=True)
    predict_s = time.perf_counter() - start
    report = regression_report(y_test, mean, std)
    return {
        "fit_s": fit_s,
        "predict_s": predict_s,
        "epochs_run": model.n_epochs_,
        "test_mae": report["mae"],
        "test_coverage95": report["coverage95"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--devices", nargs="+", default=["cuda", "cpu"], choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="200 structures, 2 epochs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--note", default="a GPU machine", help="what the machine was, for the results file")
    args = parser.parse_args(argv)
    if "cuda" in args.devices and not torch.cuda.is_available():
        parser.error("no CUDA device is available here: run it on a GPU machine, or pass --devices cpu")
    epochs = 2 if args.quick else args.epochs
    before = machine_state()
    data = load_dataset("elastic_tensor_2015")
    order = np.random.default_rng(0).permutation(len(data.target))[: 200 if args.quick else None]
    n_train = int(0.8 * len(order))
    graphs = CrystalGraphTransformer().fit_transform(data.structures[order])
    y = data.target[order]
    split = (graphs[:n_train], y[:n_train], graphs[n_train:], y[n_train:])
    if "cuda" in args.devices:  # CUDA context, kernels and allocator start-up, untimed
        GNNGPRegressor(epochs=1, gp_iterations=2, device="cuda", random_state=0).fit(split[0], split[1])
    runs = {}
    for device in args.devices:
        runs[device] = fit_and_time(device, epochs, *split)
        print(device, runs[device], flush=True)
    out = {
        "what": "GNNGPRegressor fit and predict seconds, device cuda against cpu, same process (see device_speed.py)",
        "dataset": "elastic_tensor_2015",
        "n_train": n_train,
        "n_test": len(order) - n_train,
        "epochs": epochs,
        "quick": args.quick,
        "gpu": torch.cuda.get_device_name(0) if "cuda" in runs else None,
        "runs": runs,
    }
    if {"cuda", "cpu"} <= runs.keys():
        out["ratio"] = runs["cpu"]["fit_s"] / runs["cuda"]["fit_s"]
        out["ratio_predict"] = runs["cpu"]["predict_s"] / runs["cuda"]["predict_s"]
    write_result(out, args.results_dir / "device_speed.json", before, note=args.note)


if __name__ == "__main__":
    main()
