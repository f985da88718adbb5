import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, LogTargetRegressor, score_pool, top_entropy
from skmatgp.active import max_entropy_sampling
from tests.conftest import TINY


@pytest.fixture(scope="module")
def pipe(small):
    X, y = small
    return make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)).fit(X[:30], y[:30])


def test_streamed_scores_equal_one_shot(pipe, small):
    pool = small[0][30:]
    mean, std = pipe.predict(pool, return_std=True)
    streamed_mean, streamed_std = score_pool(pipe, (s for s in pool), chunk_size=7)
    assert np.allclose(streamed_mean, mean, atol=1e-10) and np.allclose(streamed_std, std, atol=1e-10)


def test_top_entropy_streamed_equals_max_entropy(pipe, small):
    pool = small[0][30:]
    expected, scores = max_entropy_sampling(pipe, pool, n_instances=5)
    chosen, entropies = top_entropy(pipe, iter(pool), n_instances=5, chunk_size=4)
    assert list(chosen) == list(expected) and np.allclose(entropies, scores)


def test_structures_without_a_graph_score_nan_and_are_never_queried(pipe, small):
    pool = list(small[0][30:])
    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    pool[4] = pool[9] = disordered
    warn = clone(pipe).set_params(crystalgraphtransformer__on_error="warn")
    warn.steps[-1] = pipe.steps[-1]  # the same fitted model
    with pytest.warns(UserWarning, match=r"no graph and hold None: indices \[9\]") as caught:
        mean, std = score_pool(warn, iter(pool), chunk_size=7)
    assert "indices [4]" in str(caught[0].message)  # pool indices, not indices within a chunk
    assert "1 of the 7 structures from index 7 have no graph" in str(caught[1].message)
    with pytest.raises(TypeError, match="Item at index 9 is a int"):  # the index in the pool
        score_pool(pipe, [pool[0]] * 9 + [5], chunk_size=7)
    assert np.isnan(mean[[4, 9]]).all() and np.isnan(std[[4, 9]]).all()
    others = [i for i in range(len(pool)) if i not in (4, 9)]
    expected_mean, expected_std = pipe.predict(np.array(pool, dtype=object)[others], return_std=True)
    assert np.allclose(mean[others], expected_mean, atol=1e-10) and np.allclose(
        std[others], expected_std, atol=1e-10
    )
    with pytest.warns(UserWarning, match="no graph"):
        chosen, _ = top_entropy(warn, iter(pool), n_instances=len(others), chunk_size=5)
    assert sorted(chosen) == others
    with pytest.warns(UserWarning, match="5 of the 5 structures have no graph"):  # a chunk with no graph at all
        mean, _ = score_pool(warn, [disordered] * 5 + pool[:3], chunk_size=5)
    assert np.isnan(mean[:5]).all() and np.isfinite(mean[5:]).all()


@pytest.mark.parametrize("log_last", [False, True], ids=["around_the_pipeline", "last_in_the_pipeline"])
def test_a_log_target_streams_with_gaps_and_predicts_on_the_y_scale(small, log_last):
    """Around the pipeline or as its last step, the same median and std as ``predict``."""
    X, log10_shear = small
    shear = 10.0**log10_shear
    graphs = CrystalGraphTransformer(on_error="warn")
    if log_last:
        model = make_pipeline(graphs, LogTargetRegressor(GNNGPRegressor(**TINY)))
    else:
        model = LogTargetRegressor(make_pipeline(graphs, GNNGPRegressor(**TINY)))
    model.fit(X[:30], shear[:30])
    pool = list(X[30:])
    pool[4] = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.warns(UserWarning, match=r"no graph and hold None: indices \[4\]"):
        mean, std = score_pool(model, iter(pool), chunk_size=7)
    others = [i for i in range(len(pool)) if i != 4]
    expected_mean, expected_std = model.predict(np.array(pool, dtype=object)[others], return_std=True)
    assert np.isnan(mean[4]) and np.isnan(std[4])
    # chunks of 7 embed in other batches than one call does: the float32 encoder's sums then
    # differ by about 1e-6, which reach the predictions as about 1e-5 of their size
    assert np.allclose(mean[others], expected_mean, rtol=1e-4)
    assert np.allclose(std[others], expected_std, rtol=1e-4)
    with pytest.warns(UserWarning, match="no graph"):
        chosen, entropies = top_entropy(model, iter(pool), n_instances=3, chunk_size=7)
    expected, scores = max_entropy_sampling(model, np.array(pool, dtype=object)[others], n_instances=3)
    assert list(chosen) == [others[i] for i in expected] and np.allclose(entropies, scores, atol=1e-4)


def test_a_list_of_graphs_with_gaps_is_scored_item_by_item(pipe, small):
    from skmatgp._streaming import _predict_chunk

    graphs = list(pipe[0].transform(small[0][30:34]))  # a list, as a custom step may return
    mean, std = _predict_chunk(pipe[-1], [graphs[0], None, graphs[1]])
    expected = pipe[-1].predict(graphs[:2])
    assert np.isnan(mean[1]) and np.isnan(std[1]) and np.allclose(mean[[0, 2]], expected, atol=1e-10)


def test_streaming_errors(pipe, small):
    with pytest.raises(ValueError, match="empty"):
        score_pool(pipe, iter([]))
    with pytest.raises(ValueError, match="pool of only 3"):
        top_entropy(pipe, iter(small[0][:3]), n_instances=5)
    with pytest.raises(ValueError, match="chunk_size"):
        score_pool(pipe, small[0], chunk_size=0)
