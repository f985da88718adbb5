"""The numba search gives exactly the graphs of the pymatgen search, and the dispatch between them."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

pytest.importorskip("numba")

import skmatgp._graphs
from skmatgp import CrystalGraphTransformer, _compiled_search
from skmatgp._graphs import PAIR_TOLERANCE, _first_radius, _pymatgen_nearest_neighbors, _read_structure


def both_searches(structure, radius=8.0, k=12):
    _, frac, lattice, pbc = _read_structure(structure, 0)
    first = _first_radius(lattice, len(frac), radius, k)
    compiled = _compiled_search.nearest_neighbors(frac, lattice, pbc, first, radius, k, PAIR_TOLERANCE)
    reference = _pymatgen_nearest_neighbors(frac @ lattice, lattice, pbc, first, radius, k)
    return compiled, reference


def assert_same(structure, radius=8.0, k=12):
    (edges, distances), (edges_ref, distances_ref) = both_searches(structure, radius, k)
    assert edges.dtype == edges_ref.dtype == np.int64
    assert np.array_equal(edges, edges_ref), structure.formula
    assert np.array_equal(distances, distances_ref), structure.formula
    return edges, distances


def skewed_cell():
    """A very oblique cell (angles 30°): the translations to visit differ a lot by axis."""
    lattice = Lattice.from_parameters(3.1, 4.0, 9.0, 30, 35, 40)
    return Structure(lattice, ["Si", "O", "O"], [[0, 0, 0], [0.3, 0.1, 0.6], [0.7, 0.8, 0.2]])


@pytest.mark.parametrize("k", [1, 12, 40])
def test_same_edges_and_distances_as_pymatgen(elastic, k):
    """Every structure of elastic_tensor_2015 (1,181, 1 to 48 atoms), their 2x2x2
    supercells (heavy on equal distances), an oblique cell and coordinates outside [0, 1):
    the same edges in the same order and the same float32 distances, bit for bit."""
    structures = list(elastic.structures)
    structures += [s * (2, 2, 2) for s in elastic.structures[::60]]
    outside = skewed_cell()
    outside.translate_sites(range(len(outside)), [1.7, -2.2, 0.4], to_unit_cell=False)
    structures += [skewed_cell(), outside]
    for structure in structures:
        assert_same(structure, k=k)


def fcc(a=4 * 2**0.5):
    """Copper-like fcc, conventional cell: nearest neighbours at a / sqrt(2) = 4 Å."""
    return Structure(Lattice.cubic(a), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def hexagonal(a, c):
    return Structure(Lattice.hexagonal(a, c), ["Mg"], [[0, 0, 0]])


@pytest.mark.parametrize(
    ("structure", "radius", "k", "edges_at_radius"),
    [
        (fcc(), 4.0, 12, 48),
        (fcc(), 8.0, 80, 48),
        (hexagonal(4.0, 20.0), 8.0, 40, 6),
        (hexagonal(2.0, 30.0), 8.0, 80, 6),
    ],
    ids=["fcc-nearest-shell-at-r", "fcc-shell-at-8", "hexagonal-a4", "hexagonal-a2"],
)
def test_neighbours_exactly_at_the_radius_are_kept(structure, radius, k, edges_at_radius):
    """Ideal cells put whole neighbour shells at exactly the radius (computed a few ulps either
    side of it): both searches keep them, as pymatgen does (d^2 < r^2 + 1e-8)."""
    _, distances = assert_same(structure, radius, k)
    assert np.sum(np.isclose(distances, radius, atol=1e-5)) == edges_at_radius


def test_an_isolated_atom_beside_atoms_that_need_the_full_search():
    """A rock-salt slab with an atom 8.6 Å above it and below its next periodic image: that
    atom has nothing within 8 Å, and the first search (7.25 Å: the slab is dense) cannot
    settle it, so the full search runs and finds nothing; the slab's atoms keep 12 edges each."""
    rock_salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
    slab = Structure(
        Lattice.tetragonal(5.64, 20.0), rock_salt.species, rock_salt.cart_coords, coords_are_cartesian=True
    )
    slab.make_supercell([2, 2, 1])
    slab.append("Na", [0.0, 0.0, 11.4], coords_are_cartesian=True)
    _, frac, lattice, _ = _read_structure(slab, 0)
    assert _first_radius(lattice, len(frac), 8.0, 12) < 8.0
    edges, _ = assert_same(slab)
    counts = np.bincount(edges[1], minlength=len(slab))
    assert counts[-1] == 0 and np.all(counts[:-1] == 12)


def test_large_structures_use_the_pymatgen_search(monkeypatch):
    """Above MAX_ATOMS atoms visiting every pair costs more than pymatgen's cell list."""
    calls = []
    reference = skmatgp._graphs._pymatgen_nearest_neighbors
    monkeypatch.setattr(
        skmatgp._graphs, "_pymatgen_nearest_neighbors", lambda *a: calls.append(len(a[0])) or reference(*a)
    )
    small = skewed_cell()
    large = small * (6, 6, 6)
    assert len(small) <= _compiled_search.MAX_ATOMS < len(large)
    CrystalGraphTransformer().fit_transform([small, large])
    assert calls == [len(large)]
