"""The numba search gives exactly the graphs of the pymatgen search, and the dispatch between them."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

pytest.importorskip("numba")

import skmatgp._graphs
from skmatgp import CrystalGraphTransformer, _compiled_search
from skmatgp._graphs import _first_radius, _pymatgen_nearest_neighbors, _read_structure


def both_searches(structure, radius=8.0, k=12):
    _, frac, lattice, pbc = _read_structure(structure, 0)
    first = _first_radius(lattice, len(frac), radius, k)
    compiled = _compiled_search.nearest_neighbors(frac, lattice, pbc, first, radius, k)
    reference = _pymatgen_nearest_neighbors(frac @ lattice, lattice, pbc, first, radius, k)
    return compiled, reference


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
        (edges, distances), (edges_ref, distances_ref) = both_searches(structure, k=k)
        assert edges.dtype == edges_ref.dtype == np.int64
        assert np.array_equal(edges, edges_ref), structure.formula
        assert np.array_equal(distances, distances_ref), structure.formula


def test_isolated_atoms_and_a_short_radius():
    """An atom alone in a big cell has no neighbour within the radius: no edges at all."""
    lonely = Structure(Lattice.cubic(20.0), ["Fe"], [[0, 0, 0]])
    (edges, distances), (edges_ref, _) = both_searches(lonely, radius=8.0)
    assert edges.shape == edges_ref.shape == (2, 0) and distances.shape == (0,)


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
