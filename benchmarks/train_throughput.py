"""Training speed: graphs per second per epoch, skmatgp's encoder vs cgcnn2's model.

    python benchmarks/train_throughput.py [--n 2000] [--epochs 3] [--threads 1] [--quick]

Same structures (the fixed-seed mp_2020 subset of featurize.py), same targets (formation
energy per atom, standardised), batch size 64, Adam, one process, the same
``torch.set_num_threads`` for both. Graphs are built once before timing for both
models; what is timed is a training epoch as each library runs it: shuffling, collating
minibatches (skmatgp: ``Batch.from_data_list`` of graphs holding raw distances, as
``GNNGPRegressor`` does; cgcnn2: its ``collate_pool`` in a ``DataLoader``, as its training CLI
does), forward, MSE loss, backward, optimiser step.

- skmatgp: ``CrystalGraphEncoder`` at ``GNNGPRegressor``'s default sizes (hidden 64,
  3 convolutions, embedding 32; Adam lr 2e-3, weight decay 1e-5 as in ``GNNGPRegressor``).
- cgcnn2: ``CrystalGraphConvNet`` with its defaults (atom_fea_len 64, n_conv 3, n_h 1,
  h_fea_len 128; Adam lr 1e-2 as in its CLI); also timed with h_fea_len 32 (closer to
  skmatgp's 32-wide embedding). ``ratio`` is against the default h_fea_len 128.

One warm-up epoch each, then ``--epochs`` timed epochs, the models alternating epoch by
epoch (so load from other processes hits both alike); the median epoch is reported.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from protocol import (
    RADIUS,
    RESULTS,
    STEP,
    cgcnn2_items,
    cgcnn2_model,
    have_cgcnn2,
    machine_state,
    subset,
    write_result,
)

from skmatgp import CrystalGraphEncoder, CrystalGraphTransformer
from skmatgp._graph_batches import collate as _collate
from skmatgp._graph_batches import minibatches as _minibatches


def skmatgp_epoch_runner(graphs, y, batch_size, seed):
    torch.manual_seed(seed)
    encoder = CrystalGraphEncoder(
        radius=RADIUS, gaussian_step=STEP, hidden_channels=64, n_conv=3, embedding_dim=32
    )
    optimizer = torch.optim.Adam(encoder.parameters(), lr=2e-3, weight_decay=1e-5)
    targets = torch.as_tensor(y, dtype=torch.float32)
    cpu = torch.device("cpu")
    n_params = sum(p.numel() for p in encoder.parameters())

    def epoch():
        encoder.train()
        order = torch.randperm(len(graphs)).numpy()
        collate_s = 0.0
        for idx in _minibatches(order, batch_size, drop_singleton=True):
            start = time.perf_counter()
            batch = _collate(graphs[idx], cpu)
            collate_s += time.perf_counter() - start
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(encoder(batch), targets[idx])
            loss.backward()
            optimizer.step()
        return collate_s

    return epoch, n_params


def cgcnn2_epoch_runner(items, batch_size, seed, h_fea_len):
    from cgcnn2.data import collate_pool
    from torch.utils.data import DataLoader

    torch.manual_seed(seed)
    model = cgcnn2_model(items, h_fea_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(items, batch_size=batch_size, shuffle=True, collate_fn=collate_pool, drop_last=False)
    criterion = torch.nn.MSELoss()
    n_params = sum(p.numel() for p in model.parameters())

    def epoch():
        model.train()
        collate_s = 0.0
        batches = iter(loader)
        while True:
            start = time.perf_counter()
            try:
                (atom_fea, nbr_fea, nbr_fea_idx, crystal_atom_idx), target, _ = next(batches)
            except StopIteration:
                return collate_s
            collate_s += time.perf_counter() - start
            if target.shape[0] < 2:
                continue  # batch norm cannot train on a single crystal (same rule as skmatgp)
            optimizer.zero_grad()
            out, _ = model(atom_fea, nbr_fea, nbr_fea_idx, crystal_atom_idx)
            loss = criterion(out, target)
            loss.backward()
            optimizer.step()

    return epoch, n_params


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", default="mp_2020")
    parser.add_argument(
        "--quick", action="store_true", help="200 bundled elastic structures, one timed epoch"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.dataset = 200, 1, "elastic_tensor_2015"
    torch.set_num_threads(args.threads)
    structures, y = subset(args.dataset, args.n)
    y = (y - y.mean()) / y.std()
    n = len(structures)
    graphs = CrystalGraphTransformer(radius=RADIUS, gaussian_step=STEP, max_num_neighbors=12).transform(
        structures
    )
    n_edges = int(sum(g.edge_index.shape[1] for g in graphs))
    print(
        f"{args.dataset}: {n} structures, {n_edges} edges; batch {args.batch_size}; {args.threads} thread(s)"
    )
    before = machine_state()

    runners, params = {}, {}
    runners["skmatgp"], params["skmatgp"] = skmatgp_epoch_runner(graphs, y, args.batch_size, 0)
    skipped = None
    if have_cgcnn2():
        items = cgcnn2_items(structures, y)
        for h in (128, 32):
            name = f"cgcnn2_h{h}"
            runners[name], params[name] = cgcnn2_epoch_runner(items, args.batch_size, 0, h)
    else:
        skipped = "cgcnn2 is not installed (pip install '.[bench]', Python >= 3.11)"
        print(f"skipping cgcnn2: {skipped}")

    seconds = {name: [] for name in runners}
    collate = {name: [] for name in runners}
    names = list(runners)
    for e in range(1 + args.epochs):
        for name in names[e % len(names) :] + names[: e % len(names)]:
            start = time.perf_counter()
            collate_s = runners[name]()
            elapsed = time.perf_counter() - start
            if e > 0:  # epoch 0 is the warm-up
                seconds[name].append(elapsed)
                collate[name].append(collate_s)
            print(f"epoch {e}{' (warm-up)' if e == 0 else ''}: {name} {n / elapsed:.0f} graphs/s", flush=True)
    per_s = {name: n / float(np.median(s)) for name, s in seconds.items()}

    out = {
        "what": (
            "training graphs per second, median over timed epochs after one warm-up epoch; "
            "one process; models alternate epoch by epoch"
        ),
        "dataset": args.dataset,
        "target": "formation energy per atom, standardised"
        if args.dataset == "mp_2020"
        else "default target",
        "n": n,
        "n_edges_skmatgp": n_edges,
        "batch_size": args.batch_size,
        "timed_epochs": args.epochs,
        "torch_threads": args.threads,
        "optimizer": "Adam (skmatgp lr 2e-3, weight decay 1e-5; cgcnn2 lr 1e-2, its CLI default)",
        "quick": args.quick,
        "skmatgp_model": "CrystalGraphEncoder(hidden_channels=64, n_conv=3, embedding_dim=32)",
        "cgcnn2_model": "CrystalGraphConvNet(atom_fea_len=64, n_conv=3, h_fea_len=128, n_h=1)",
        "parameters": params,
        "skmatgp_graphs_per_s": per_s["skmatgp"],
        "cgcnn2_graphs_per_s": per_s.get("cgcnn2_h128"),
        "cgcnn2_h32_graphs_per_s": per_s.get("cgcnn2_h32"),
        "ratio": per_s["skmatgp"] / per_s["cgcnn2_h128"] if "cgcnn2_h128" in per_s else None,
        "ratio_h32": per_s["skmatgp"] / per_s["cgcnn2_h32"] if "cgcnn2_h32" in per_s else None,
        "epoch_seconds": seconds,
        "collate_seconds": collate,
        "collate_share": {k: float(np.sum(collate[k]) / np.sum(v)) for k, v in seconds.items()},
    }
    if skipped:
        out["cgcnn2_skipped"] = skipped
    write_result(out, args.results_dir / "train_throughput.json", before)
    return out


if __name__ == "__main__":
    main()
