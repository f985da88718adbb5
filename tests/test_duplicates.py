"""A duplicate structure in the pool: found cheaply, and a batch holding both copies warns."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, find_duplicate_structures
from skmatgp.active import ActiveLearner, max_entropy_sampling, random_sampling
from tests.conftest import TINY


def _nacl(a=5.64):
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_identical_copies_are_found_whatever_the_site_order():
    original = _nacl()
    reordered = Structure(original.lattice, ["Cl", "Na"], [[0.5, 0.5, 0.5], [1.0, 0, 0]])  # x wraps
    other = _nacl(5.70)
    moved = _nacl()
    moved.translate_sites([0], [0.01, 0, 0])
    pool = [original, other, reordered, moved, original.copy()]
    assert find_duplicate_structures(pool) == [(0, 2), (0, 4)]
    assert find_duplicate_structures(pool[:2]) == []


@pytest.fixture(scope="module")
def model_and_pool(small_graphs, small):
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    X = small[0]
    pool = np.empty(21, dtype=object)
    pool[:20] = list(graphs[40:])
    pool[20] = CrystalGraphTransformer().transform(X[45:46])[0]  # a copy of pool item 5
    return model, pool


def test_a_batch_with_both_copies_warns_with_both_indices(model_and_pool):
    model, pool = model_and_pool
    with pytest.warns(UserWarning, match=r"Pool items 5 and 20 are identical|Pool items 20 and 5 are"):
        max_entropy_sampling(model, pool, n_instances=len(pool))
    with pytest.warns(UserWarning, match="identical"):
        random_sampling(model, pool, n_instances=len(pool), random_state=0)


def test_the_duplicate_warning_names_the_line_that_queried(model_and_pool):
    """Not modAL's query, through which a learner calls the strategy."""
    model, pool = model_and_pool
    learner = ActiveLearner(estimator=model, query_strategy=random_sampling)
    with pytest.warns(UserWarning, match="identical") as caught:
        learner.query(pool, n_instances=len(pool), random_state=0)
    assert [w.filename for w in caught] == [__file__]


def test_no_warning_without_duplicates_in_the_batch(model_and_pool, recwarn):
    model, pool = model_and_pool
    max_entropy_sampling(model, pool[:20], n_instances=20)
    assert not [w for w in recwarn if "identical" in str(w.message)]
