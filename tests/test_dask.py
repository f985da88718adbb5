"""Graph building, GridSearchCV and pool scoring on a Dask LocalCluster (loopback only)."""

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("dask.distributed")
pytestmark = pytest.mark.slow  # a cluster of worker processes: the slow tier

import joblib
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, score_pool
from tests.conftest import TINY


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _tasks_on_workers(client, run):
    with distributed.get_task_stream(client) as stream:
        out = run()
    return out, {task["worker"] for task in stream.data}


def test_graph_building_runs_on_the_cluster_unchanged(client, small):
    X, _ = small
    serial = CrystalGraphTransformer().transform(X[:20])

    def run():
        with joblib.parallel_backend("dask"):
            return CrystalGraphTransformer(n_jobs=-1).transform(X[:20])

    graphs, workers = _tasks_on_workers(client, run)
    assert workers  # the chunks ran on the Dask workers
    for a, b in zip(serial, graphs, strict=True):
        assert np.array_equal(a.edge_index.numpy(), b.edge_index.numpy())
        assert np.allclose(a.edge_dist.numpy(), b.edge_dist.numpy())


def test_grid_search_runs_on_the_cluster_unchanged(client, small_graphs):
    graphs, y = small_graphs
    search = GridSearchCV(
        GNNGPRegressor(**{**TINY, "epochs": 1, "gp_iterations": 2}),
        {"hidden_channels": [4, 8]},
        cv=2,
        n_jobs=-1,
        scoring="neg_mean_absolute_error",
    )

    def run():
        with joblib.parallel_backend("dask"):
            return search.fit(graphs[:40], y[:40])

    _, workers = _tasks_on_workers(client, run)
    assert len(workers) == 2  # the 4 fits spread over both workers
    assert search.best_params_["hidden_channels"] in (4, 8)
    assert np.isfinite(search.best_score_)


def test_pool_scoring_over_partitions_matches_one_process(client, small):
    from skmatgp.dask import score_pool_dask

    X, y = small
    model = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**{**TINY, "epochs": 1}))
    model.fit(X[:30], y[:30])
    expected = score_pool(model, X, chunk_size=25)
    pool = (s for s in X)  # a generator, read lazily on the client
    mean, std = score_pool_dask(model, pool, client, partition_size=7, chunk_size=4, max_in_flight=2)
    assert mean.shape == std.shape == (len(X),)
    assert np.allclose(mean, expected[0]) and np.allclose(std, expected[1])
    with pytest.raises(ValueError, match="empty"):
        score_pool_dask(model, [], client)
