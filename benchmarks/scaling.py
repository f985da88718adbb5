"""Scaling: fit and predict time and peak memory of the GP heads against training size.

    python benchmarks/scaling.py            # mp_2020, 500 to 34,738 training structures
    python benchmarks/scaling.py --quick    # bundled elastic_tensor_2015, 2 small sizes

mp_2020 formation energy; the fixed 2,000-structure test set and training order of
``sparse_gp.py``. One encoder is trained first (``--encoder-epochs`` epochs on the first
2,000 training structures, saved to ``benchmarks/work/scaling/``) and then used frozen
(``GNNGPRegressor(encoder=file, epochs=0)``), so that every point fits the same embedding
map and the figures are those of the GP head plus one embedding pass. Training the encoder
costs epochs x n / (graphs per second of ``train_throughput.json``) on top; that part is
linear in n.

Each point runs in its own process (peak resident memory, sampled every 0.1 s, is then its
own):

* ``exact`` and ``sparse`` (512 inducing points) heads at each size they are run at: fit
  time (embedding pass + hyperparameters + calibration + posterior), predict time for the
  test set (mean and std), peak RSS above the process's RSS before the fit, test MAE and
  95% coverage.
* ``exact_iteration``: past the sizes where the exact head is run, one iteration of its
  hyperparameter fit (a Cholesky factorisation of the n x n kernel matrix and its gradient)
  on the embeddings of n structures; the exact head runs ``gp_iterations=100`` of these.

Writes ``benchmarks/results/scaling.json`` (after every point) and ``scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from protocol import GP_HEAD_N_TEST, RESULTS, PeakMemory, gp_head_split

HERE = Path(__file__).parent
WORK = HERE / "work" / "scaling"
FULL = {
    "dataset": "mp_2020",
    "n_test": GP_HEAD_N_TEST,
    "encoder_n": 2000,
    "exact": [500, 1000, 2000, 4000],
    "sparse": [2000, 4000, 8000, 16000, None],  # None: all training structures (34,738)
    "exact_iteration": [8000, 16000],
    "n_inducing": 512,
}
QUICK = {
    "dataset": "elastic_tensor_2015",
    "n_test": 200,
    "encoder_n": 150,
    "exact": [100],
    "sparse": [200],
    "exact_iteration": [300],
    "n_inducing": 32,
}


def load_split(settings: dict, n_train: int | None):
    from skmatgp.datasets import load_dataset

    data = load_dataset(settings["dataset"])
    test, train = gp_head_split(len(data.target), n_train, settings["n_test"])
    return data, train, test


def train_encoder(settings: dict, epochs: int, path: Path) -> dict:
    from skmatgp import CrystalGraphTransformer, GNNGPRegressor

    data, train, _ = load_split(settings, settings["encoder_n"])
    graphs = CrystalGraphTransformer().transform(data.structures[train])
    start = time.perf_counter()
    model = GNNGPRegressor(epochs=epochs, gp_head="exact", random_state=0).fit(graphs, data.target[train])
    model.save(path)
    return {"n_train": len(train), "epochs": model.n_epochs_, "fit_s": time.perf_counter() - start}


def run_point(settings: dict, head: str, n: int | None, encoder: Path) -> dict:
    import torch

    from skmatgp import CrystalGraphTransformer, GNNGPRegressor, load
    from skmatgp._gp import fit_gp_hyperparameters
    from skmatgp.metrics import regression_report

    data, train, test = load_split(settings, n)
    transformer = CrystalGraphTransformer()
    start = time.perf_counter()
    G_train = transformer.transform(data.structures[train])
    record = {
        "head": head,
        "n_train": len(train),
        "graphs_s": time.perf_counter() - start,
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": os.getloadavg(),
    }
    y_train = data.target[train]
    if head == "exact_iteration":
        frozen = load(encoder)
        Z = torch.as_tensor(frozen.embed(G_train), dtype=torch.float64)
        Z = (Z - Z.min(0).values) / (Z.max(0).values - Z.min(0).values).clamp_min(1e-8)
        y = torch.as_tensor((y_train - y_train.mean()) / y_train.std())
        memory = PeakMemory()
        memory.start()
        start = time.perf_counter()
        fit_gp_hyperparameters(Z, y, nu=0.5, iterations=1, lr=0.1)
        record["s_per_iteration"] = time.perf_counter() - start
        record.update(memory.stop())
        record["projected_fit_s"] = 100 * record["s_per_iteration"]
    else:
        model = GNNGPRegressor(
            encoder=str(encoder), epochs=0, gp_head=head, n_inducing=settings["n_inducing"], random_state=0
        )
        memory = PeakMemory()
        memory.start()
        start = time.perf_counter()
        model.fit(G_train, y_train)
        record["fit_s"] = time.perf_counter() - start
        record.update(memory.stop())
        G_test = transformer.transform(data.structures[test])
        start = time.perf_counter()
        mean, std = model.predict(G_test, return_std=True)
        record["predict_s"] = time.perf_counter() - start
        record["n_test"] = len(test)
        report = regression_report(data.target[test], mean, std)
        record["test_mae"], record["test_coverage95"] = report["mae"], report["coverage95"]
    record["loadavg_end"] = os.getloadavg()
    return record


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in result["points"] if "error" not in p]
    failed = [p for p in result["points"] if "error" in p]
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"exact": ("C0", "o-"), "sparse": ("C1", "s-"), "exact_iteration": ("C0", "x--")}
    for head, (colour, style) in styles.items():
        rows = sorted((p for p in points if p["head"] == head), key=lambda p: p["n_train"])
        if not rows:
            continue
        n = [p["n_train"] for p in rows]
        key = "projected_fit_s" if head == "exact_iteration" else "fit_s"
        label = "exact, 100 x one measured iteration" if head == "exact_iteration" else f"{head} head, fit"
        ax_time.plot(n, [p[key] for p in rows], style, color=colour, label=label)
        if head != "exact_iteration":
            ax_time.plot(
                n,
                [p["predict_s"] for p in rows],
                ":",
                marker=style[0],
                color=colour,
                label=f"{head} head, predict {rows[0]['n_test']}",
            )
        ax_mem.plot(
            n,
            [p["peak_above_start_mb"] for p in rows],
            style,
            color=colour,
            label="exact, one iteration" if head == "exact_iteration" else f"{head} head, fit",
        )
    for p in failed:  # e.g. killed for lack of memory: marked where it would have been
        for ax in (ax_time, ax_mem):
            ax.axvline(p["n_train"], color="grey", linestyle="--", linewidth=1)
            ax.text(
                p["n_train"],
                0.5,
                f" {p['head']} {p['n_train']}: failed",
                transform=ax.get_xaxis_transform(),
                rotation=90,
                fontsize=7,
                va="center",
                ha="right",
                color="grey",
            )
    for ax in (ax_time, ax_mem):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training structures")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    ax_time.set_ylabel("seconds (frozen encoder)")
    ax_mem.set_ylabel("peak RSS above start (MB)")
    fig.suptitle(f"GP heads against training size, {result['dataset']}, 2 CPU cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--encoder-epochs", type=int, default=8)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--point", nargs=3, metavar=("HEAD", "N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    work = args.results_dir / "work_scaling" if args.quick else WORK
    encoder = work / "encoder.pt"
    if args.point:
        head, n, out = args.point
        record = run_point(settings, head, None if n == "all" else int(n), encoder)
        Path(out).write_text(json.dumps(record))
        return
    work.mkdir(parents=True, exist_ok=True)
    epochs = 2 if args.quick else args.encoder_epochs
    result = {
        "what": "fit and predict time and peak memory of the GP heads against training size, "
        "frozen encoder (see scaling.py)",
        "dataset": settings["dataset"],
        "n_inducing": settings["n_inducing"],
        "machine": f"{os.cpu_count()} CPU cores",
        "quick": args.quick,
        "encoder": train_encoder(settings, epochs, encoder),
        "points": [],
    }
    out = args.results_dir / "scaling.json"
    jobs = [(head, n) for head in ("exact", "sparse", "exact_iteration") for n in settings[head]]
    for head, n in jobs:
        point_file = work / f"{head}_{n or 'all'}.json"
        command = [
            sys.executable,
            __file__,
            *(["--quick"] if args.quick else []),
            "--results-dir",
            str(args.results_dir),
            "--point",
            head,
            str(n or "all"),
            str(point_file),
        ]
        status = subprocess.run(command, check=False).returncode
        if status == 0:
            record = json.loads(point_file.read_text())
        else:
            killed = " (SIGKILL: on Linux usually the out-of-memory killer)" if status == -9 else ""
            record = {"head": head, "n_train": n, "error": f"exit status {status}{killed}"}
        print(json.dumps(record), flush=True)
        result["points"].append(record)
        out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.results_dir / "scaling.png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
