"""Exact vs sparse GP head on mp_2020 formation energy; the sparse head on all of mp_2020.

A fixed random test set of 2,000 structures; the rest is the training pool. Each part runs in
its own process, so that its peak resident memory (sampled every 0.1 s by a thread during
the fit) is its own:

* ``exact_5k``: GNNGPRegressor(gp_head="exact") on 5,000 training structures, encoder
  trained for ``--epochs-5k`` epochs; the fitted model is saved.
* ``sparse_5k`` (and, optionally, ``exact_5k_frozen``): the same encoder, loaded from that
  file with ``epochs=0`` (frozen), so both heads see identical embeddings and validation
  split; the fit is then the embedding pass plus the GP head alone.
* ``sparse_full``: gp_head="auto" (sparse, since n > 10,000) on all of mp_2020 minus the test
  set (34,738). By default (``--epochs-full 0``) with the 5,000-structure encoder frozen, so
  that the figures are those of the GP head at full size (an encoder epoch over 34,738 graphs
  is about 250 s on one unloaded core at the 140 graphs/s of train_throughput.json);
  ``--epochs-full N`` trains a new encoder for N epochs instead.
* ``pipeline_full``: the whole pipeline on all of mp_2020 minus the test set (34,738): a new
  encoder trained for ``--epochs-pipeline`` epochs (early stopping on the default 10%
  validation split), then the sparse head (gp_head="auto").

The cost of one exact hyperparameter iteration past 4,000 structures (why gp_head="auto"
switches to the sparse head above 10,000) is measured by ``scaling.py``.

Every fit also records the time and peak memory of the GP head alone (``gp_head_*``: from
the embedding pass to the final posterior).

    nohup python benchmarks/sparse_gp.py > benchmarks/work/sparse_gp.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from protocol import RESULTS, PeakMemory, gp_head_split

WORK = Path(__file__).parent / "work" / "sparse_gp"
PARTS = ("exact_5k", "sparse_5k", "sparse_full", "exact_5k_frozen", "pipeline_full")


def timed_fit(model, graphs, y) -> dict:
    """Fit, timing the encoder and the GP head (embedding pass included) apart."""
    timings = {}
    original = type(model)._fit_gp

    def fit_gp(self, *args):
        head_memory = PeakMemory()
        head_memory.start()
        start = time.perf_counter()
        original(self, *args)
        timings["gp_head_s"] = time.perf_counter() - start
        timings.update({f"gp_head_{k}": v for k, v in head_memory.stop().items()})

    model._fit_gp = fit_gp.__get__(model)
    memory = PeakMemory()
    memory.start()
    start = time.perf_counter()
    model.fit(graphs, y)
    timings["fit_s"] = time.perf_counter() - start
    del model._fit_gp
    timings["encoder_s"] = timings["fit_s"] - timings["gp_head_s"]
    return {**timings, **memory.stop(), "n_epochs": model.n_epochs_, "gp_head": model.gp_head_}


def elbo_step_times(Z, y_train, rounds: int = 3, steps: int = 15) -> dict:
    """Seconds per ELBO step (m=512, batch 1,024) in float32 and float64, alternating rounds
    so that both see the same machine load; medians over rounds."""
    import gpytorch
    import torch

    from skmatgp._sparse_gp import _SVGPModel, kmeans_centres

    y = torch.as_tensor((y_train - y_train.mean()) / y_train.std())
    inducing = kmeans_centres(Z, 512, torch.Generator().manual_seed(0), iterations=3)
    times = {"float32": [], "float64": []}
    for _ in range(rounds):
        for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
            model = _SVGPModel(inducing.to(dtype), 0.5).to(dtype)
            likelihood = gpytorch.likelihoods.GaussianLikelihood().to(dtype)
            elbo = gpytorch.mlls.VariationalELBO(likelihood, model, num_data=len(Z))
            optimizer = torch.optim.Adam([*model.parameters(), *likelihood.parameters()], lr=0.02)
            Zt, yt = Z.to(dtype), y.to(dtype)
            start = time.perf_counter()
            for step in range(steps):
                idx = torch.arange(step * 1024, (step + 1) * 1024) % len(Z)
                optimizer.zero_grad()
                (-elbo(model(Zt[idx]), yt[idx])).backward()
                optimizer.step()
            times[name].append((time.perf_counter() - start) / steps)
    return {name: float(np.median(t)) for name, t in times.items()} | {"rounds": times}


def run_part(part: str, args) -> dict:
    import torch

    from skmatgp import CrystalGraphTransformer, GNNGPRegressor
    from skmatgp.datasets import load_dataset
    from skmatgp.metrics import regression_report

    start = time.perf_counter()
    data = load_dataset("mp_2020")
    load_s = time.perf_counter() - start
    n_train = None if part in ("sparse_full", "pipeline_full") else 5000
    test, train = gp_head_split(len(data.target), n_train)
    start = time.perf_counter()
    transformer = CrystalGraphTransformer()
    G_train = transformer.transform(data.structures[train])
    G_test = transformer.transform(data.structures[test])
    graphs_s = time.perf_counter() - start
    y_train, y_test = data.target[train], data.target[test]
    record = {"part": part, "target": data.target_name, "n_train": len(train), "n_test": len(test),
              "load_s": load_s, "graphs_s": graphs_s, "torch_threads": torch.get_num_threads(),
              "loadavg_start": os.getloadavg()}
    encoder_file = WORK / "exact_5k.pt"
    if part not in ("exact_5k", "pipeline_full") and not (part == "sparse_full" and args.epochs_full > 0):  # wait for its encoder
        while not (WORK / "exact_5k.json").is_file():
            time.sleep(10)
    if part == "exact_5k":
        model = GNNGPRegressor(epochs=args.epochs_5k, gp_head="exact", random_state=0)
    elif part in ("sparse_5k", "exact_5k_frozen"):
        head = "sparse" if part == "sparse_5k" else "exact"
        model = GNNGPRegressor(encoder=str(encoder_file), epochs=0, gp_head=head, random_state=0)
    elif part == "pipeline_full":
        model = GNNGPRegressor(epochs=args.epochs_pipeline, gp_head="auto", random_state=0, verbose=1)
    elif args.epochs_full == 0:
        model = GNNGPRegressor(encoder=str(encoder_file), epochs=0, gp_head="auto", random_state=0)
    else:
        model = GNNGPRegressor(epochs=args.epochs_full, gp_head="auto", random_state=0)
    record.update(timed_fit(model, G_train, y_train))
    mean, std = model.predict(G_test, return_std=True)
    record["test"] = regression_report(y_test, mean, std)
    record["std_scale"] = model.std_scale_
    record["gp_noise"] = model.posterior_.noise
    if part == "exact_5k":
        model.save(encoder_file)
    if part == "sparse_5k":
        record["elbo_step_s"] = elbo_step_times(torch.as_tensor(model.embed(G_train)), y_train)
    record["loadavg_end"] = os.getloadavg()
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=PARTS)
    parser.add_argument("--parts", nargs="+", default=list(PARTS[:3]), choices=PARTS)
    parser.add_argument("--epochs-5k", type=int, default=8)
    parser.add_argument("--epochs-full", type=int, default=0)
    parser.add_argument("--epochs-pipeline", type=int, default=30)
    parser.add_argument("--note", default="", help="stored with each part run now (e.g. the machine's load)")
    parser.add_argument("--reuse", action="store_true",
                        help="collect a part's result from benchmarks/work if it is there")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.part:
        record = run_part(args.part, args)
        (WORK / f"{args.part}.json").write_text(json.dumps(record, indent=2))
        return
    out = RESULTS / "sparse_gp.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    results.update({
        "what": "exact vs sparse GP head of GNNGPRegressor on mp_2020 formation energy per atom "
                "(eV/atom); fixed random test set of 2,000; one process per part; peak RSS "
                "sampled every 0.1 s during the fit",
        "machine": f"{os.cpu_count()} CPU cores shared with other jobs (see loadavg)",
        "epochs_5k": args.epochs_5k,
        "n_inducing": 512,
    })
    results.setdefault("parts", {})
    for part in args.parts:
        print(f"--- {part}", flush=True)
        path = WORK / f"{part}.json"
        if args.reuse and path.is_file():
            status = 0
        else:
            command = [sys.executable, __file__, "--part", part, "--epochs-5k", str(args.epochs_5k),
                       "--epochs-full", str(args.epochs_full), "--epochs-pipeline", str(args.epochs_pipeline)]
            status = subprocess.run(command, check=False).returncode
        if status == 0 and path.is_file():
            results["parts"][part] = json.loads(path.read_text())
            if args.note and not args.reuse:
                results["parts"][part]["note"] = args.note
            print(json.dumps(results["parts"][part], indent=1), flush=True)
        else:
            results["parts"][part] = {"error": f"exit status {status}"}
        out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
