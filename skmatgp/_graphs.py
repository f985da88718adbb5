"""Crystal graphs: neighbour lists, the Gaussian distance expansion, and the transformer."""

from __future__ import annotations

import contextvars
import logging
import numbers
from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import torch
from joblib import Parallel, delayed
from pymatgen.core import Structure
from pymatgen.optimization.neighbors import find_points_in_spheres
from sklearn.base import BaseEstimator, TransformerMixin
from torch_geometric.data import Data
from tqdm.auto import tqdm

from ._arrays import object_array
from ._atom_features import MAX_Z
from ._doc_link import DocLinkMixin
from ._structures import check_structures, structure_problem
from ._warnings import warn_user

try:  # the compiled search, when numba is installed (pip install skmatgp[fast])
    from . import _compiled_search
except ImportError:
    _compiled_search = None

logger = logging.getLogger(__name__)

PAIR_TOLERANCE = 1e-8  # both searches keep a pair when d^2 < r^2 + this (pymatgen's rule)


@dataclass(frozen=True)
class GraphSettings:
    """The settings a crystal graph was built with, stored on every graph: a model trained on
    graphs of one setting refuses graphs of another, and an encoder reads its radius and step.

    ``str(settings)`` is the stable text form that model files hold and errors show,
    ``"radius=8.0,max_num_neighbors=12,step=0.2"``; :meth:`from_string` reads it back.
    """

    radius: float
    max_num_neighbors: int
    gaussian_step: float

    def __post_init__(self):  # numpy numbers as the Python numbers they stand for
        object.__setattr__(self, "radius", float(self.radius))
        object.__setattr__(self, "max_num_neighbors", int(self.max_num_neighbors))
        object.__setattr__(self, "gaussian_step", float(self.gaussian_step))

    def __str__(self) -> str:
        return f"radius={self.radius},max_num_neighbors={self.max_num_neighbors},step={self.gaussian_step}"

    @classmethod
    def from_string(cls, text: str) -> GraphSettings:
        """The settings :meth:`__str__` wrote (model files, graphs pickled before this class)."""
        values = dict(part.split("=") for part in text.split(","))
        return cls(float(values["radius"]), int(float(values["max_num_neighbors"])), float(values["step"]))

    @classmethod
    def of(cls, value: GraphSettings | str) -> GraphSettings:
        """``value`` as settings; a string is their text form."""
        return value if isinstance(value, cls) else cls.from_string(value)


def gaussian_expansion(distances: torch.Tensor, radius: float, step: float) -> torch.Tensor:
    """CGCNN's edge features: exp(-(d - mu_k)^2 / step^2), mu_k = 0, step, ..., radius.

    Shapes: distances (E,) -> (E, K) with K = round(radius / step) + 1 (41 for 8 Å, 0.2 Å).
    """
    centers = torch.arange(0.0, radius + step / 2, step, dtype=distances.dtype, device=distances.device)
    return torch.exp(-((distances[:, None] - centers[None, :]) ** 2) / step**2)


def structure_to_graph(
    structure: Structure, radius: float, max_num_neighbors: int, settings: GraphSettings, index: int = 0
) -> tuple[Data, int]:
    """One crystal graph (atomic numbers, edges neighbour -> centre, raw edge distances) and
    its number of atoms without edges.

    Edges go to the ``max_num_neighbors`` nearest neighbours within ``radius`` (periodic
    images included). An atom with no neighbour within the radius gets no edge (documented
    rule): it receives no message from other atoms, so its state depends on its own element
    only, and the structure still gets an embedding.
    """
    atomic_numbers, frac, lattice, pbc = _read_structure(structure, index)
    edge_index, distances = _nearest_neighbors(frac, lattice, pbc, radius, max_num_neighbors)
    centers = edge_index[1]  # grouped by centre
    with_edges = np.count_nonzero(np.diff(centers)) + 1 if len(centers) else 0
    graph = _as_data(atomic_numbers, edge_index, distances, settings)
    return graph, len(atomic_numbers) - with_edges


def _as_data(atomic_numbers, edge_index, distances, settings: GraphSettings) -> Data:
    """The arrays of one graph wrapped as a PyG ``Data``, edges neighbour -> centre.

    ``Data(z=..., ...)`` routes each attribute through two ``__setattr__`` layers and a cache
    check: with five attributes, a sixth of a graph's build time. This fills the private
    mapping of a fresh ``Data`` (``_store._mapping``, in PyG since 2.0) instead, valid only
    with no ``None`` values; tests/test_graphs.py pins the result to the keyword-built graph.
    """
    graph = Data()
    graph._store._mapping.update(
        edge_index=torch.from_numpy(edge_index),
        z=torch.from_numpy(atomic_numbers),
        edge_dist=torch.from_numpy(distances),
        num_nodes=len(atomic_numbers),
        graph_settings=settings,
    )
    return graph


_SPECIES = attrgetter("species")  # site -> its Composition
_FRAC_COORDS = attrgetter("frac_coords")


def _read_structure(structure: Structure, index: int):
    """Z and fractional coordinates of each site, lattice matrix and periodicity, as the
    searches take them; refuses disordered sites and elements outside the feature table.

    Reading sites is a quarter of the time it takes to build a graph, so this reads each
    site's ``species`` (half the cost of ``site.specie``, which recomputes the occupancy)
    and ``frac_coords`` with ``attrgetter`` over the site list, a quarter faster than a loop.
    """
    sites = structure.sites
    numbers = []
    for composition in map(_SPECIES, sites):
        try:
            ((species, occupancy),) = composition.items()
        except ValueError:  # no species, or several on the site
            occupancy = 0
        if occupancy != 1:
            raise ValueError(
                f"Structure at index {index} ({structure.composition.reduced_formula}) has "
                "disordered sites (partial occupancies). Order it first, e.g. with pymatgen's "
                "OrderDisorderedStructureTransformation, or pick one ordered representative."
            )
        numbers.append(species.Z)
    frac = np.array(list(map(_FRAC_COORDS, sites)), dtype=float).reshape(-1, 3)
    atomic_numbers = np.array(numbers, dtype=np.int64)
    outside = (atomic_numbers < 1) | (atomic_numbers > MAX_Z)
    if outside.any():
        bad = structure[int(np.argmax(outside))].specie
        raise ValueError(
            f"Structure at index {index} contains {bad}, which is not an element with "
            f"Z=1..{MAX_Z} (the atom feature table's range; dummy species have no features). "
            "Remove such structures from the input."
        )
    lattice = np.ascontiguousarray(structure.lattice.matrix, dtype=float)
    pbc = np.ascontiguousarray(structure.pbc, dtype=np.int64)
    return atomic_numbers, frac, lattice, pbc


def _nearest_neighbors(frac, lattice, pbc, radius: float, k: int):
    """Edges (2, E) int64, neighbour row over centre row, and float32 distances: each atom's k
    nearest neighbours within ``radius``.

    The compiled search (``_compiled_search``) when numba is installed and the structure is
    small enough for it to win, else ``_pymatgen_nearest_neighbors``: the same edges.
    """
    first = _first_radius(lattice, len(frac), radius, k)
    if _compiled_search is not None and len(frac) <= _compiled_search.MAX_ATOMS:
        return _compiled_search.nearest_neighbors(frac, lattice, pbc, first, radius, k, PAIR_TOLERANCE)
    return _pymatgen_nearest_neighbors(frac @ lattice, lattice, pbc, first, radius, k)


def _pymatgen_nearest_neighbors(coords, lattice, pbc, first: float, radius: float, k: int):
    """Each atom's k nearest neighbours from pymatgen's pair list (Cartesian ``coords``).

    Edges come ordered by centre, then distance; neighbours at the same (float32) distance
    go to the lower neighbour index, whatever order the search found them in.

    Listing every pair within 8 Å costs most of the time (about 3,000 pairs per structure of
    mp_2020, to keep 300), so the search first runs at ``first`` (``_first_radius``). Its
    answer is exact when every atom has k neighbours strictly inside that radius; otherwise
    (about 1% of mp_2020: vacuum, very uneven density) the search runs again at ``radius``.
    """
    n_atoms = len(coords)
    centers, neighbors, distances = _neighbor_list(coords, lattice, pbc, first)
    keep, counts = _k_nearest(centers, neighbors, distances, n_atoms, k)
    # Strictly inside, with room for a float32 tie just outside the first search.
    complete = counts.min() >= k and distances[keep].max() < first * (1 - 1e-6)
    if first < radius and not complete:
        centers, neighbors, distances = _neighbor_list(coords, lattice, pbc, radius)
        keep, _ = _k_nearest(centers, neighbors, distances, n_atoms, k)
    edge_index = np.vstack([neighbors[keep], centers[keep]]).astype(np.int64)
    return edge_index, distances[keep].astype(np.float32)


def _first_radius(lattice, n_atoms: int, radius: float, k: int) -> float:
    """1.2 times the radius of a sphere holding k atoms (12 at least) at the structure's
    density, at most ``radius``: large enough to settle about 99% of mp_2020 at k = 12."""
    (a, b, c), (d, e, f), (g, h, i) = lattice.tolist()  # the determinant, 3x faster than LAPACK's
    volume_per_atom = abs(a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)) / n_atoms
    return min(radius, 1.2 * (3 * max(k, 12) * volume_per_atom / (4 * np.pi)) ** (1 / 3))


def _neighbor_list(coords, lattice, pbc, radius: float):
    """(centre, neighbour, distance) of every pair within ``radius``, periodic images included.

    pymatgen's compiled search, what ``Structure.get_neighbor_list`` calls, without its
    per-call overhead.
    """
    centers, neighbors, _, distances = find_points_in_spheres(
        coords, coords, r=float(radius), pbc=pbc, lattice=lattice, tol=PAIR_TOLERANCE
    )
    not_self = (centers != neighbors) | (distances > 1e-8)
    return centers[not_self], neighbors[not_self], distances[not_self]


PACKED_KEY_MAX_ATOMS = 1 << 12  # centre and neighbour indices fit 12 bits each of the key


def _k_nearest(centers, neighbors, distances, n_atoms: int, k: int):
    """Which pairs are each centre's k nearest, ordered by centre, float32 distance, neighbour.

    Also returns each centre's number of pairs. One argsort of a packed integer key
    (centre | float32 distance bits, which order like the distances | neighbour) instead of
    a three-key lexsort, whenever the indices fit their bits.
    """
    distance_bits = distances.astype(np.float32).view(np.int32).astype(np.int64)
    if n_atoms <= PACKED_KEY_MAX_ATOMS:
        order = np.argsort((centers.astype(np.int64) << 43) | (distance_bits << 12) | neighbors)
    else:
        order = np.lexsort((neighbors, distance_bits, centers))
    counts = np.bincount(centers, minlength=n_atoms)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(order)) - starts[centers[order]]
    return order[rank < k], counts


# Where the structures of a transform call start in a larger input: streamed pool scoring
# (``skmatgp._streaming``) transforms a pool chunk by chunk, and sets it so that the indices in
# the errors and warnings are pool indices, not indices within the chunk. transform reads it in
# the calling thread; a transform that joblib runs elsewhere (a FeatureUnion with n_jobs > 1)
# does not see it and counts from 0.
INDEX_OFFSET = contextvars.ContextVar("INDEX_OFFSET", default=0)


def _graphs_for_chunk(structures, start, radius, max_num_neighbors, settings, on_error):
    """The chunk's graphs, None where a structure was refused (``on_error="warn"``), the
    (index, reason) of each refusal and the (index, count) of each graph with isolated atoms."""
    graphs, failures, isolated = [], [], []
    for i, structure in enumerate(structures):
        try:
            problem = structure_problem(structure)  # NaN, a flat cell, overlapping atoms
            if problem is not None:
                raise ValueError(f"Structure at index {start + i} {problem}.")
            graph, n_isolated = structure_to_graph(structure, radius, max_num_neighbors, settings, start + i)
        except ValueError as exc:
            if on_error == "raise":
                raise
            graph = None
            failures.append((start + i, str(exc)))
        else:
            if n_isolated:
                isolated.append((start + i, n_isolated))
        graphs.append(graph)
    return graphs, failures, isolated


class CrystalGraphTransformer(DocLinkMixin, TransformerMixin, BaseEstimator):
    """Turn pymatgen Structures into crystal graphs (torch_geometric ``Data``).

    Each graph holds the atomic numbers ``z`` (the encoder looks up element features),
    ``edge_index`` from each of an atom's nearest neighbours within ``radius`` (at most
    ``max_num_neighbors``, periodic images included) to the atom, and the raw distance
    ``edge_dist`` of each edge. The Gaussian expansion of the distances (CGCNN's edge
    features, centres 0 to ``radius`` every ``gaussian_step`` Å) is applied inside the
    encoder batch by batch, so a graph stores one distance per edge instead of 41 features
    (with ``edge_index``, about 20 bytes per edge: a pool of 10^5 structures of 24 atoms
    holds about 0.6 GB instead of 5 GB).

    Parameters
    ----------
    radius : float, default=8.0
        Neighbour cutoff in Å.
    max_num_neighbors : int, default=12
        Keep at most this many nearest neighbours per atom.
    gaussian_step : float, default=0.2
        Spacing (and width) of the Gaussian distance expansion, in Å.
    n_jobs : int, default=None
        Processes for graph building, through joblib (None means 1 unless inside a
        ``joblib.parallel_backend`` context).
    verbose : int, default=0
        Show a progress bar when > 0.
    on_error : {"raise", "warn"}, default="raise"
        What to do with a structure that has no graph (disordered sites, dummy species,
        elements past Fm, NaN or infinite coordinates, a flat cell, atoms closer than 0.5 Å):
        raise a ``ValueError`` naming its index, or put ``None`` in its
        place and warn once, listing the indices. Drop those items and their targets before
        fitting, e.g. ``keep = np.array([g is not None for g in graphs])``.

    Notes
    -----
    An atom with no neighbour within ``radius`` gets no edges (no messages from other atoms);
    a warning is logged. Disordered structures, dummy species and elements heavier than Fm
    (Z=100) are refused with an error naming the index.
    The neighbour search runs first at a radius that holds about 1.7 times
    ``max_num_neighbors`` atoms (at least 20) at the structure's average density, then at
    ``radius`` for the atoms that one cannot settle; the graphs are those of a search at
    ``radius``. Neighbours at the same distance (float32, as stored) go to the lower
    neighbour index. With numba installed (``pip install "skmatgp[fast]"``) structures of up
    to 500 atoms use a compiled search (``skmatgp._compiled_search``); otherwise pymatgen's
    ``find_points_in_spheres`` (what ``Structure.get_neighbor_list`` calls) lists the pairs.
    Both give the same graphs.
    """

    def __init__(
        self,
        radius: float = 8.0,
        max_num_neighbors: int = 12,
        gaussian_step: float = 0.2,
        n_jobs: int | None = None,
        verbose: int = 0,
        on_error: str = "raise",
    ):
        self.radius = radius
        self.max_num_neighbors = max_num_neighbors
        self.gaussian_step = gaussian_step
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.on_error = on_error

    def __setstate__(self, state):
        state.setdefault("on_error", "raise")  # pickled before on_error existed
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags

    def _validate_params(self):
        if not (isinstance(self.radius, numbers.Real) and self.radius > 0):
            raise ValueError(f"radius must be a positive number of Å, got {self.radius!r}.")
        if not (isinstance(self.max_num_neighbors, (int, np.integer)) and self.max_num_neighbors > 0):
            raise ValueError(f"max_num_neighbors must be a positive integer, got {self.max_num_neighbors!r}.")
        if not (isinstance(self.gaussian_step, numbers.Real) and 0 < self.gaussian_step <= self.radius):
            raise ValueError(f"gaussian_step must be in (0, radius], got {self.gaussian_step!r}.")
        if self.on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {self.on_error!r}.")

    def fit(self, X, y=None):
        """Check the parameters; the transformer learns nothing from data."""
        self._validate_params()
        return self

    def transform(self, X) -> np.ndarray:
        """Build one graph per structure.

        Returns
        -------
        numpy.ndarray of shape (n,), dtype object, holding ``torch_geometric.data.Data``
        (``None`` for the structures refused with ``on_error="warn"``).
        """
        self._validate_params()
        offset = INDEX_OFFSET.get()
        # the geometry is checked structure by structure, in the chunks: refused or skipped
        structures = check_structures(X, first_index=offset, check_geometry=False)
        settings = GraphSettings(self.radius, self.max_num_neighbors, self.gaussian_step)
        chunk = 256
        starts = range(0, len(structures), chunk)
        jobs = (
            delayed(_graphs_for_chunk)(
                structures[s : s + chunk],
                offset + s,
                self.radius,
                self.max_num_neighbors,
                settings,
                self.on_error,
            )
            for s in starts
        )
        if self.verbose:
            jobs = tqdm(list(jobs), desc="crystal graphs", unit="chunk")
        chunks = Parallel(n_jobs=self.n_jobs)(jobs)
        out = object_array([graph for graphs, _, _ in chunks for graph in graphs])
        failures = [failure for _, part, _ in chunks for failure in part]
        if failures:
            shown = " ".join(reason for _, reason in failures[:3])
            warn_user(
                f"{len(failures)} of the {len(out)} structures"
                f"{f' from index {offset}' if offset else ''} have no graph and hold None: indices "
                f"{[i for i, _ in failures][:20]}{' ...' if len(failures) > 20 else ''}. {shown}"
                f"{' ...' if len(failures) > 3 else ''} Drop them (and their targets) before fitting."
            )
        for index, n_isolated in (item for _, _, part in chunks for item in part):
            logger.warning(
                "Structure at index %d has %d atom(s) with no neighbour within the radius; "
                "they get no edges and learn nothing from other atoms.",
                index,
                n_isolated,
            )
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """One name for the one column of graphs, so that a Pipeline or FeatureUnion that ends
        in a transformer of graphs (``PretrainedEncoderTransformer``) can give its names."""
        return np.array(["crystal_graph"], dtype=object)
