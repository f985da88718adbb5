"""Property-based tests over random valid structures (hypothesis); degenerate draws (atoms
closer than 0.5 Å) are refused by design and tested in test_bad_input.py, so left out here."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymatgen.core import Element, Lattice, Structure

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp._structures import structure_problem
from tests.conftest import TINY


@st.composite
def structures(draw):
    lengths = [draw(st.floats(2.5, 9.0)) for _ in range(3)]
    angles = [draw(st.floats(70.0, 110.0)) for _ in range(3)]
    try:
        lattice = Lattice.from_parameters(*lengths, *angles)
    except ValueError:
        lattice = Lattice.from_parameters(*lengths, 90, 90, 90)
    n_sites = draw(st.integers(1, 6))
    species = [Element.from_Z(draw(st.integers(1, 100))) for _ in range(n_sites)]
    coords = [[draw(st.floats(0.0, 1.0, exclude_max=True)) for _ in range(3)] for _ in range(n_sites)]
    structure = Structure(lattice, species, coords)
    assume(structure_problem(structure) is None)  # a valid structure: no two atoms closer than 0.5 Å
    return structure


@pytest.fixture(scope="module")
def model(small_graphs):
    graphs, y = small_graphs
    return GNNGPRegressor(**TINY).fit(graphs, y)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(structure=structures(), radius=st.floats(1.0, 8.0))
def test_transform_never_fails(structure, radius):
    (graph,) = CrystalGraphTransformer(radius=radius, max_num_neighbors=12).fit_transform([structure])
    assert graph.num_nodes == len(structure)
    if graph.edge_dist.numel():
        assert float(graph.edge_dist.max()) <= radius + 1e-6


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(structures(), min_size=1, max_size=4))
def test_predictions_are_finite_and_std_positive(model, batch):
    graphs = CrystalGraphTransformer().fit_transform(batch)
    mean, std = model.predict(graphs, return_std=True)
    assert mean.shape == std.shape == (len(batch),)
    assert np.all(np.isfinite(mean)) and np.all(std > 0) and np.all(np.isfinite(std))
