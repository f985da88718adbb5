"""FoundationFeaturizer: a frozen universal interatomic potential's atom features, pooled.

A universal potential trained on about 1.5 million DFT relaxation frames has seen far more
chemistry than a small property dataset can teach; its atom features after message passing
make a fixed descriptor for any regressor (a GP, a booster, a ridge). The weights ship inside
the ``chgnet`` and ``sevenn`` wheels, so nothing is downloaded at run time.

torch, chgnet and sevenn are imported inside functions: importing skmatgp stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import os
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._doc_link import DocLinkMixin
from ._feature_cache import FeatureCache, resolve_cache_dir, structure_key
from ._structures import check_structures, structure_problem
from ._warnings import warn_user

POOLINGS = {"mean": ("mean",), "mean_max": ("mean", "max"), "mean_std": ("mean", "std")}
STATS = ("mean", "max", "std")  # what the cache stores for every layer, in this order
FEATURES_VERSION = "f1"  # bump when what a layer's features mean changes: old cache files go unused


@dataclass(frozen=True)
class _Spec:
    label: str
    n_layers: int  # message-passing layers whose atom features can be read
    width: int  # invariant atom features per layer
    cutoff: float  # Å: an atom without a neighbour this close is refused
    weights: tuple[str, str]  # (package, folder of the checkpoint inside it)


SPECS = {
    "chgnet": _Spec("CHGNet 0.3.0", 4, 64, 6.0, ("chgnet", "pretrained/0.3.0")),
    "sevennet": _Spec("SevenNet-0", 5, 128, 5.0, ("sevenn", "pretrained_potentials/SevenNet_0__11Jul2024")),
}


@cache
def model_id(model: str) -> str:
    """The model, its checkpoint file and the features' version: the cache's folder name, so
    other weights never read these features."""
    import importlib.util

    package, folder = SPECS[model].weights
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        extra = f" (pip install {package})"
        raise ImportError(f"model={model!r} needs the {package!r} package{extra}.")
    path = os.path.join(spec.submodule_search_locations[0], folder)
    checkpoints = (".pth", ".pth.tar", ".pt")  # not the README beside them
    files = sorted(f for f in os.listdir(path) if f.endswith(checkpoints)) if os.path.isdir(path) else []
    if not files:
        raise ImportError(f"The {package!r} package has no pretrained weights under {path}.")
    stem = next(files[0].removesuffix(ext) for ext in checkpoints if files[0].endswith(ext))
    return f"{model}-{os.path.basename(folder)}-{stem}-{FEATURES_VERSION}"


# ---------------------------------------------------------------- graph conversion (any process)


@cache
def _chgnet_converter():
    from chgnet.graph import CrystalGraphConverter

    # the converter of CHGNet 0.3.0 (model.graph_converter); isolated atoms are checked below
    return CrystalGraphConverter(atom_graph_cutoff=6, bond_graph_cutoff=3, on_isolated_atoms="ignore")


def _isolated(n_atoms: int, centers) -> int:
    return n_atoms - len(np.unique(np.asarray(centers)))


def _convert_one(model: str, structure):
    """The model's graph of one structure, or a string saying why there is none."""
    cutoff = SPECS[model].cutoff
    try:
        if model == "chgnet":
            graph = _chgnet_converter()(structure)
            isolated = _isolated(len(structure), graph.atom_graph.reshape(-1, 2)[:, 0].numpy())
        else:
            from pymatgen.io.ase import AseAtomsAdaptor
            from sevenn.train.dataload import unlabeled_atoms_to_graph

            graph = unlabeled_atoms_to_graph(AseAtomsAdaptor.get_atoms(structure), cutoff)
            isolated = _isolated(len(structure), graph["edge_index"][0])
    except Exception as exc:  # noqa: BLE001 (pymatgen and the converters raise many types)
        return f"has no {SPECS[model].label} graph ({type(exc).__name__}: {exc})"
    if isolated:
        return (
            f"has {isolated} atom(s) with no neighbour within {cutoff:g} Å, the cutoff of "
            f"{SPECS[model].label}: its features would describe a lone atom, not the crystal"
        )
    return graph


def _convert_chunk(model: str, structures) -> list:
    return [_convert_one(model, s) for s in structures]


def _convert(model: str, structures, n_jobs) -> list:
    if n_jobs is None or n_jobs == 1 or len(structures) < 8:
        return _convert_chunk(model, structures)
    from joblib import Parallel, delayed, effective_n_jobs

    n_chunks = min(effective_n_jobs(n_jobs), len(structures))
    chunks = np.array_split(np.arange(len(structures)), n_chunks)
    parts = Parallel(n_jobs=n_jobs)(delayed(_convert_chunk)(model, structures[c]) for c in chunks)
    return [graph for part in parts for graph in part]


# ---------------------------------------------------------------- the loaded models


def _pool(layers, counts) -> np.ndarray:
    """Mean, max and std (population) over each structure's atoms, in float64 then stored as
    float32, the models' precision: shape (n_structures, n_layers, 3, width)."""
    import torch

    counts = torch.as_tensor(counts)
    owner = torch.repeat_interleave(torch.arange(len(counts)), counts)
    n = counts.to(torch.float64)[:, None]
    out = []
    for x in layers:
        x = x.detach().to("cpu", torch.float64)
        shape = (len(counts), x.shape[1])
        mean = torch.zeros(shape, dtype=torch.float64).index_add_(0, owner, x) / n
        high = torch.full(shape, -torch.inf, dtype=torch.float64)
        high = high.scatter_reduce_(0, owner[:, None].expand_as(x), x, "amax")
        var = torch.zeros(shape, dtype=torch.float64).index_add_(0, owner, (x - mean[owner]) ** 2) / n
        out.append(torch.stack([mean, high, var.sqrt()], 1))
    return torch.stack(out, 1).numpy().astype(np.float32)


class _CHGNet:
    """CHGNet 0.3.0; layer i is the output of ``atom_conv_layers[i]``, the last one after the
    readout LayerNorm (what CHGNet's energy head and its ``crystal_fea`` read)."""

    def __init__(self, device):
        import torch
        from chgnet.model import CHGNet

        # CHGNet initialises random weights before loading its own: keep the caller's RNG
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
            model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
        self.model = model.to(device).eval()
        self.device = device
        spec = SPECS["chgnet"]
        if (model.n_conv, model.atom_fea_dim) != (spec.n_layers, spec.width):
            raise RuntimeError(
                f"Unexpected CHGNet 0.3.0 shape: {model.n_conv} layers of {model.atom_fea_dim}."
            )
        self.known_z = frozenset(range(1, model.atom_embedding.embedding.num_embeddings + 1))
        self.lock = threading.Lock()  # the hooks below belong to one call at a time

    def forward(self, graphs) -> np.ndarray:
        import torch

        model = self.model
        layers: list = [None] * len(model.atom_conv_layers)

        def keep(i):
            def hook(module, inputs, output):
                layers[i] = output.clone()

            return hook

        targets = list(model.atom_conv_layers)
        if model.readout_norm is not None:
            targets[-1] = model.readout_norm
        with self.lock, torch.inference_mode():
            handles = [t.register_forward_hook(keep(i)) for i, t in enumerate(targets)]
            try:
                # task="e": energies only, no autograd for forces and stresses
                model([g.to(self.device) for g in graphs], task="e")
            finally:
                for h in handles:
                    h.remove()
            return _pool(layers, [len(g.atomic_number) for g in graphs])


class _SevenNet:
    """SevenNet-0 (11Jul2024); layer i is the node features after interaction block i (its
    gate), l = 0 even-parity channels only, so they do not turn with the structure."""

    def __init__(self, device):
        import sevenn._const
        import sevenn.util
        import torch

        with torch.random.fork_rng(devices=[]):
            checkpoint = sevenn.util.load_checkpoint(sevenn._const.SEVENNET_0_11Jul2024)
            model = checkpoint.build_model()
        model.set_is_batch_data(True)
        self.model = model.to(device).eval()
        self.device = device
        self.known_z = frozenset(int(z) for z in checkpoint.config["_type_map"])
        self.gates = [name for name, _ in model.named_children() if name.endswith("_equivariant_gate")]
        self.scalars = []  # per layer: the columns of x that are 0e
        for name in self.gates:
            irreps, columns, start = model.get_submodule(name).gate.irreps_out, [], 0
            for mul, ir in irreps:
                if ir.l == 0 and ir.p == 1:
                    columns.extend(range(start, start + mul * ir.dim))
                start += mul * ir.dim
            self.scalars.append(torch.tensor(columns, device=device))
        spec = SPECS["sevennet"]
        if (len(self.gates), {len(c) for c in self.scalars}) != (spec.n_layers, {spec.width}):
            raise RuntimeError("Unexpected SevenNet-0 shape: " + ", ".join(map(str, self.scalars)))
        self.lock = threading.Lock()

    def forward(self, graphs) -> np.ndarray:
        import torch
        from sevenn.atom_graph_data import AtomGraphData
        from torch_geometric.data import Batch

        data_list = [AtomGraphData.from_numpy_dict(dict(g)) for g in graphs]
        layers = []
        with self.lock, torch.inference_mode():
            data = self.model._preprocess(Batch.from_data_list(data_list).to(self.device))
            # the blocks one by one, stopping after the last interaction: the energy and force
            # heads after it need autograd and are not wanted
            for name, module in self.model.named_children():
                data = module(data)
                if name in self.gates:
                    layers.append(data["x"][:, self.scalars[len(layers)]].clone())
                    if len(layers) == len(self.gates):
                        break
            return _pool(layers, [len(g["atomic_numbers"]) for g in graphs])


_LOADED: dict = {}
_LOAD_LOCK = threading.Lock()


def _loaded(model: str, device):
    """One loaded model per (model, device) and process, shared by every featurizer: clones
    and grid-search candidates load nothing new, and nothing of it reaches a pickle."""
    with _LOAD_LOCK:
        key = (model, str(device))
        if key not in _LOADED:
            _LOADED[key] = (_CHGNet if model == "chgnet" else _SevenNet)(device)
        return _LOADED[key]


def _resolve_device(device):
    from ._gp_head import resolve_device

    try:
        return resolve_device(device)
    except (RuntimeError, TypeError) as exc:  # torch's words for a string that names no device
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<i>' or 'auto', got {device!r}.") from exc


# ---------------------------------------------------------------- the estimator


class FoundationFeaturizer(DocLinkMixin, TransformerMixin, BaseEstimator):
    """pymatgen Structures to a frozen universal potential's atom features, pooled per structure.

    The potential's atom features after a message-passing layer are averaged over the atoms
    (and, if asked, their max or std appended): a fixed descriptor of local chemistry and
    geometry learned from about 1.5 million DFT frames, for any scikit-learn regressor. Nothing
    is trained; the weights ship inside the ``chgnet`` and ``sevenn`` wheels.

    Both models were trained on MPtrj (Materials Project relaxation trajectories: energies,
    forces, stresses and, for CHGNet, magnetic moments). So the formation energies of
    Materials Project structures leak into their features (a benchmark on such energies
    flatters them); band gaps, refractive indices and elastic moduli were not among their
    targets and do not leak directly.

    Parameters
    ----------
    model : {"sevennet", "chgnet"}, default="sevennet"
        "chgnet": CHGNet 0.3.0 (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)), 4 layers of
        64 features, elements Z = 1 to 94, cutoff 6 Å. "sevennet": SevenNet-0, 11Jul2024
        (Park et al., J. Chem. Theory Comput. 20, 4857 (2024)), 5 layers of 128 invariant
        features (the l = 0 channels; the vector and tensor channels turn with the structure
        and are dropped), the 89 elements of its checkpoint, cutoff 5 Å. The defaults (model,
        layer, pooling) were chosen by validation inside the training data of Matbench
        tasks; the study is in benchmarks/RESULTS.md.
    layer : int, default=0
        Which layer's atom features, indexed like a list (-1 the last). CHGNet's last layer is
        read after its readout LayerNorm, so ``layer=-1, pooling="mean"`` times the atom count
        is CHGNet's own ``crystal_fea`` (a sum over atoms); a per-atom sum divided by the atom
        count is the mean. Earlier layers describe more local environments.
    pooling : {"mean", "mean_max", "mean_std"}, default="mean_max"
        Over the atoms of a structure: the mean; the mean then the max; the mean then the
        (population) std. The mean does not depend on the cell's size, so a supercell gives
        the same row; the max and std add what the mean blurs (one unusual site).
    batch_size : int, default=64
        Structures per forward pass.
    device : str, default="cpu"
        Where the model runs; "auto" picks CUDA when available.
    n_jobs : int, optional
        Processes (joblib) that build the models' graphs. The forward pass, not the graphs,
        takes most of the time, so this rarely pays on few cores; None builds them here.
    verbose : int, default=0
        A progress bar over the structures when > 0.
    on_error : {"raise", "warn"}, default="raise"
        What to do with a structure the model cannot take: an element outside its training
        set, a disordered site, an atom with no neighbour within its cutoff, a failed graph,
        NaN or infinite coordinates, a flat cell, atoms closer than 0.5 Å.
        "raise": a ValueError naming the structure's index (elements are checked for all
        structures before any model work; neighbours batch by batch). "warn": that row is NaN,
        and one warning names the indices; drop those rows (and their targets) before fitting.
    cache_dir : str or path, optional
        Cache the features on disk here ("auto": ``$SKMATGP_CACHE``, else
        ``~/.cache/skmatgp/feature_cache``; a folder that cannot be written is skipped with a
        warning), keyed by the structure (lattice, atomic numbers, fractional coordinates
        rounded to 1e-6) and the model's weights. Every layer's mean, max and std are stored, so another ``layer``
        or ``pooling`` reads the cache instead of running the model. Processes may share the
        folder (writes are atomic). The cache keeps the first computation's numbers: features
        computed on a GPU differ from the CPU's in the last digits.

    Attributes
    ----------
    n_features_out_ : int
        Columns of the output: the layer's width times the pooled statistics.
    model_id_ : str
        The model, its weights and the features' version (the cache folder's name).

    Notes
    -----
    ``transform`` converts the structures to the model's graphs and runs only the forward
    pass (no forces or stresses by autograd, unlike CHGNet's ``predict_structure``), under
    ``torch.inference_mode``. The model is loaded once per process and device, shared by
    all featurizers and never pickled. torch's random state is left as it was; on the CPU the
    same structures give the same numbers. The output is float64 holding float32 values.

    Examples
    --------
    A GP on CHGNet features joined with descriptors:

    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.pipeline import make_pipeline, make_union
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmatgp import FoundationFeaturizer, StructureDescriptors
    >>> features = make_union(FoundationFeaturizer(cache_dir="auto"), StructureDescriptors())
    >>> model = make_pipeline(features, StandardScaler(), GaussianProcessRegressor(normalize_y=True))
    """

    def __init__(
        self,
        model: str = "sevennet",
        layer: int = 0,
        pooling: str = "mean_max",
        batch_size: int = 64,
        device: str = "cpu",
        n_jobs: int | None = None,
        verbose: int = 0,
        on_error: str = "raise",
        cache_dir=None,
    ):
        self.model = model
        self.layer = layer
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.on_error = on_error
        self.cache_dir = cache_dir

    def _validate_params(self) -> int:
        """Check the parameters; return the layer as a non-negative index."""
        if self.model not in SPECS:
            raise ValueError(f"model must be one of {tuple(SPECS)}, got {self.model!r}.")
        n_layers = SPECS[self.model].n_layers
        if not (
            isinstance(self.layer, numbers.Integral)
            and not isinstance(self.layer, bool)
            and -n_layers <= self.layer < n_layers
        ):
            raise ValueError(
                f"layer must be an integer from {-n_layers} to {n_layers - 1} ({SPECS[self.model].label} "
                f"has {n_layers} layers), got {self.layer!r}."
            )
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {tuple(POOLINGS)}, got {self.pooling!r}.")
        if not (isinstance(self.batch_size, numbers.Integral) and self.batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}.")
        if not (self.n_jobs is None or (isinstance(self.n_jobs, numbers.Integral) and self.n_jobs != 0)):
            raise ValueError(f"n_jobs must be None or a non-zero integer, got {self.n_jobs!r}.")
        if self.on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {self.on_error!r}.")
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'cpu', 'cuda' or 'auto', got {self.device!r}.")
        resolve_cache_dir(self.cache_dir)  # raises for a wrong type
        return int(self.layer) % n_layers

    def fit(self, X, y=None):
        """Check the parameters and the structures; nothing is learned, no model is loaded."""
        self._validate_params()
        check_structures(X, check_geometry=self.on_error == "raise")
        self.n_features_out_ = len(self.get_feature_names_out())
        self.model_id_ = model_id(self.model)
        return self

    def transform(self, X) -> np.ndarray:
        """The pooled features of each structure.

        Returns
        -------
        numpy.ndarray of shape (n_structures, n_features_out), float64
            NaN rows for the structures refused with ``on_error="warn"``.
        """
        from tqdm.auto import tqdm

        from ._graphs import INDEX_OFFSET

        layer = self._validate_params()
        model_id(self.model)  # a clear ImportError if the model's package is missing
        offset = INDEX_OFFSET.get()
        structures = check_structures(X, first_index=offset, check_geometry=False)
        spec = SPECS[self.model]
        pooled = np.full((len(structures), spec.n_layers, len(STATS), spec.width), np.nan, np.float32)
        root = resolve_cache_dir(self.cache_dir)
        cache = FeatureCache(root, model_id(self.model), pooled.shape[1:]) if root is not None else None
        failures: dict[int, str] = {}
        keys: dict[int, str] = {}
        todo = []
        for i, s in enumerate(structures):
            problem = structure_problem(s)  # NaN, a flat cell, overlapping atoms
            if problem is not None:
                failures[i] = problem
                continue
            if not s.is_ordered:
                failures[i] = (
                    "has a disordered site (partial occupancy); the models take one element per site"
                )
                continue
            if cache is not None:
                keys[i] = structure_key(s)
                hit = cache.get(keys[i])
                if hit is not None:
                    pooled[i] = hit
                    continue
            todo.append(i)
        self._refuse(failures, offset)
        with tqdm(
            total=len(structures), desc=f"{spec.label} features", unit="structure", disable=not self.verbose
        ) as bar:
            bar.update(len(structures) - len(todo))
            if todo:
                device = _resolve_device(self.device)
                backend = _loaded(self.model, device)
                for i in todo:
                    unknown = sorted(
                        {e for e in structures[i].composition.elements if e.Z not in backend.known_z},
                        key=lambda e: e.Z,
                    )
                    if unknown:
                        names = ", ".join(f"{e.symbol} (Z = {e.Z})" for e in unknown)
                        failures[i] = f"contains {names}, which {spec.label} was not trained on"
                self._refuse(failures, offset)
                todo = [i for i in todo if i not in failures]
                for start in range(0, len(todo), self.batch_size):
                    batch = todo[start : start + self.batch_size]
                    graphs = _convert(self.model, structures[batch], self.n_jobs)
                    for i, graph in zip(batch, graphs, strict=True):
                        if isinstance(graph, str):
                            failures[i] = graph
                    self._refuse(failures, offset)
                    ok = [(i, g) for i, g in zip(batch, graphs, strict=True) if not isinstance(g, str)]
                    if ok:
                        rows = backend.forward([g for _, g in ok])
                        for (i, _), row in zip(ok, rows, strict=True):
                            pooled[i] = row
                            if cache is not None:
                                cache.put(keys[i], row)
                    bar.update(len(batch))
        if failures:
            indices = [offset + i for i in sorted(failures)]
            warn_user(
                f"{len(failures)} of the {len(structures)} structures got rows of NaN: indices "
                f"{indices[:20]}{' ...' if len(indices) > 20 else ''}. {self._reasons(failures, offset)} "
                "Drop them (and their targets) before fitting."
            )
        stats = [STATS.index(s) for s in POOLINGS[self.pooling]]
        return pooled[:, layer, stats].reshape(len(structures), -1).astype(np.float64)

    def _reasons(self, failures, offset, shown: int = 3) -> str:
        items = sorted(failures.items())
        text = " ".join(f"Structure at index {offset + i} {reason}." for i, reason in items[:shown])
        return text + (" ..." if len(items) > shown else "")

    def _refuse(self, failures, offset) -> None:
        if failures and self.on_error == "raise":
            raise ValueError(
                f"{self._reasons(failures, offset)} Remove such structures, or pass on_error='warn' "
                "for rows of NaN."
            )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names like ``chgnet_l3_mean_0``: model, layer (non-negative), statistic, column."""
        layer = self._validate_params()
        width = SPECS[self.model].width
        names = [f"{self.model}_l{layer}_{stat}_{j}" for stat in POOLINGS[self.pooling] for j in range(width)]
        return np.array(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        from ._gp_head import would_run_on_cuda

        # the same numbers every time on the CPU only: CUDA sums messages in no fixed order
        tags.non_deterministic = would_run_on_cuda(self.device)
        return tags
