import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, score_pool, top_entropy
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


def test_streaming_errors(pipe, small):
    with pytest.raises(ValueError, match="empty"):
        score_pool(pipe, iter([]))
    with pytest.raises(ValueError, match="pool of only 3"):
        top_entropy(pipe, iter(small[0][:3]), n_instances=5)
    with pytest.raises(ValueError, match="chunk_size"):
        score_pool(pipe, small[0], chunk_size=0)
