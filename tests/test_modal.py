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
