"""The real modAL package driving a Pipeline over real structures."""

import modAL.models
import numpy as np
import pytest
import sklearn
from modAL.disagreement import max_std_sampling
from sklearn.pipeline import make_pipeline

from skmatgp import CrystalGraphTransformer, GNNGPRegressor
from skmatgp.active import ActiveLearner
from tests.conftest import TINY


def _pipeline():
    return make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))


def test_query_teach_query_on_current_sklearn(small):
    X, y = small
    learner = ActiveLearner(
        estimator=_pipeline(), query_strategy=max_std_sampling, X_training=X[:20], y_training=y[:20]
    )
    pool = X[20:]
    idx, chosen = learner.query(pool, n_instances=2)
    assert len(idx) == 2 and all(c is pool[i] for c, i in zip(chosen, idx))
    learner.teach(pool[idx], y[20:][idx])  # refits on all 22 labels
    assert len(learner.X_training) == 22
    _, std = learner.predict(pool, return_std=True)
    idx2, _ = learner.query(pool, n_instances=2)
    assert len(idx2) == 2 and np.all(std > 0)


def test_teach_only_new_updates_the_gp_without_refitting(small):
    X, y = small
    learner = ActiveLearner(
        estimator=_pipeline(), X_training=X[:20], y_training=y[:20], query_strategy=max_std_sampling
    )
    encoder = learner.estimator[-1].encoder_
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    _, before = learner.predict(X[20:25], return_std=True)
    learner.teach(X[20:25], y[20:25], only_new=True)
    _, after = learner.predict(X[20:25], return_std=True)
    assert learner.estimator[-1].encoder_ is encoder
    assert all((encoder.state_dict()[k] == v).all() for k, v in state.items())
    assert np.all(after < before)
    assert len(learner.X_training) == 25


@pytest.mark.skipif(
    tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 8),
    reason="modAL's check_X_y(force_all_finite=) works before scikit-learn 1.8",
)
def test_plain_modal_teach_fails_on_current_sklearn(small):
    """Documents modAL issue #196, the reason skmatgp.active.ActiveLearner exists."""
    X, y = small
    learner = modAL.models.ActiveLearner(estimator=_pipeline(), query_strategy=max_std_sampling)
    with pytest.raises(TypeError, match="force_all_finite"):
        learner.teach(X[:10], y[:10])


def test_lists_of_structures_are_stacked_as_objects(small):
    X, y = small
    learner = ActiveLearner(
        estimator=_pipeline(), query_strategy=max_std_sampling, X_training=list(X[:20]), y_training=y[:20]
    )
    learner.teach(list(X[20:23]), y[20:23])
    assert learner.X_training.dtype == object and learner.X_training.shape == (23,)


def test_query_on_a_list_pool_returns_the_structures(small):
    """modAL's row retrieval turns a list of same-size structures into lists of sites."""
    X, y = small
    same_size = [s for s in X if len(s) == len(X[0])]
    assert len(same_size) >= 4
    learner = ActiveLearner(estimator=_pipeline(), X_training=X[:20], y_training=y[:20])
    idx, chosen = learner.query(same_size, n_instances=2)
    assert all(c is same_size[i] for c, i in zip(chosen, idx))


def test_teach_only_new_on_a_log_target_conditions_the_gp_on_log_labels(small):
    from skmatgp import LogTargetRegressor

    X, y = small
    positive = 10.0**y  # G_VRH in GPa
    learner = ActiveLearner(LogTargetRegressor(_pipeline()), X_training=X[:30], y_training=positive[:30])
    gp = learner.estimator.regressor_[-1]
    _, before = learner.estimator.predict_log(X[30:35])
    learner.teach(X[30:35], positive[30:35], only_new=True)
    assert learner.estimator.regressor_[-1] is gp and gp.posterior_.n == 35
    np.testing.assert_allclose(
        gp.posterior_.y[-5:].cpu().numpy() * gp.y_scale_ + gp.y_mean_, y[30:35] * np.log(10)
    )
    _, after = learner.estimator.predict_log(X[30:35])
    assert np.all(after < before)


def test_teach_only_new_warns_when_the_estimator_cannot_update(small):
    from sklearn.gaussian_process import GaussianProcessRegressor

    from skmatgp import LogTargetRegressor, StructureDescriptors

    X, y = small
    features = StructureDescriptors().transform(X)
    model = LogTargetRegressor(GaussianProcessRegressor(normalize_y=True))
    assert not hasattr(model, "update")
    learner = ActiveLearner(model, X_training=features[:20], y_training=10.0 ** y[:20])
    with pytest.warns(UserWarning, match="fits it on the 3 new label.* forgets the 20 earlier"):
        learner.teach(features[20:23], 10.0 ** y[20:23], only_new=True)
    assert len(learner.X_training) == 23


def test_query_keeps_numeric_pools_and_reads_a_column_of_structures(small):
    import pandas as pd
    from sklearn.gaussian_process import GaussianProcessRegressor

    from skmatgp import StructureDescriptors

    X, y = small
    features = StructureDescriptors().transform(X)
    learner = ActiveLearner(GaussianProcessRegressor(), X_training=features[:20], y_training=y[:20])
    idx, chosen = learner.query(features[20:].tolist(), n_instances=2)  # rows of numbers stay rows
    np.testing.assert_array_equal(np.asarray(chosen), features[20:][idx])
    learner = ActiveLearner(estimator=_pipeline(), X_training=X[:20], y_training=y[:20])
    pool = pd.DataFrame({"structure": list(X[20:])}, index=np.arange(100, 140))
    idx, chosen = learner.query(pool, n_instances=2)
    assert all(c is X[20:][i] for c, i in zip(chosen, idx))


def test_the_notebook_repr_links_to_the_api_page():
    url = "https://skmatgp.readthedocs.io/en/latest/generated/skmatgp.active.ActiveLearner.html"
    assert ActiveLearner(_pipeline())._get_doc_link() == url
