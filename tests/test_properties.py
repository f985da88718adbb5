"""Property-based tests (hypothesis) over random valid and degenerate structures, and random
targets: valid input always gives finite predictions and positive stds, bad input is refused
naming the item, and never changes the results of the others."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymatgen.core import Element, Lattice, Structure

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, GPRegressor
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


@st.composite
def corrupted(draw):
    """A valid random structure with one site made degenerate: a NaN or infinite coordinate,
    or moved to less than 0.5 Å from another site."""
    structure = draw(structures())
    frac = structure.frac_coords.copy()
    i = draw(st.integers(0, len(structure) - 1))
    kind = draw(st.sampled_from(["nan", "inf", "overlap"]))
    if kind == "overlap":
        assume(len(structure) > 1)
        j = (i + 1) % len(structure)
        direction = np.array([draw(st.floats(-1.0, 1.0)) for _ in range(3)])
        assume(np.linalg.norm(direction) > 0.1)
        step = direction / np.linalg.norm(direction) * draw(st.floats(0.0, 0.45))
        target = structure.lattice.get_cartesian_coords(frac[j]) + step
        frac[i] = structure.lattice.get_fractional_coords(target)
    else:
        frac[i, draw(st.integers(0, 2))] = np.nan if kind == "nan" else np.inf
    return Structure(structure.lattice, structure.species, frac)


@settings(max_examples=30, deadline=None)
@given(valid=st.lists(structures(), min_size=1, max_size=3), bad=corrupted(), data=st.data())
def test_a_degenerate_structure_is_named_and_never_changes_the_others(valid, bad, data):
    k = data.draw(st.integers(0, len(valid)))
    batch = [*valid[:k], bad, *valid[k:]]
    with pytest.raises(ValueError, match=f"index {k} "):
        CrystalGraphTransformer().fit_transform(batch)
    with pytest.warns(UserWarning, match=f"index {k}"):
        mixed = CrystalGraphTransformer(on_error="warn").fit_transform(batch)
    assert mixed[k] is None
    alone = CrystalGraphTransformer().fit_transform(valid)
    for graph, reference in zip([*mixed[:k], *mixed[k + 1 :]], alone):
        assert np.array_equal(graph.edge_index.numpy(), reference.edge_index.numpy())
        assert np.array_equal(graph.edge_dist.numpy(), reference.edge_dist.numpy())


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(3, 25),
    log_scale=st.floats(-9.0, 9.0),
    offset=st.floats(-1e6, 1e6),
    constant=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gp_on_random_targets_predicts_finite_means_and_positive_stds(n, log_scale, offset, constant, seed):
    """Targets of any scale from 1e-9 to 1e9, constant or not, on 3 to 25 points: finite
    means and finite positive stds (a warning may say why the std is rough), or, for a
    constant float64 cannot square, an error that says so."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = offset + (0.0 if constant else 10.0**log_scale) * rng.normal(size=n)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = GPRegressor(random_state=0).fit(X, y)
    except ValueError as exc:  # only a constant too small for float64 to square is refused
        assert "float64 cannot hold" in str(exc) and constant and abs(offset) < 1e-150
        return
    mean, std = model.predict(rng.normal(size=(5, 4)) * 3, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 20), bad=st.sampled_from([np.nan, np.inf, -np.inf]), data=st.data())
def test_a_non_finite_target_is_refused(n, bad, data):
    X = np.random.default_rng(n).normal(size=(n, 3))
    y = X[:, 0].copy()
    y[data.draw(st.integers(0, n - 1))] = bad
    with pytest.raises(ValueError, match="Input y contains"):
        GPRegressor(random_state=0).fit(X, y)
