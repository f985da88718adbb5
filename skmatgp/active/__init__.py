"""Active learning: query strategies, a modAL learner fixed for current scikit-learn, campaigns."""

from ._learner import ActiveLearner, update_estimator
from ._strategies import (
    batch_entropy_sampling,
    gaussian_entropy,
    max_entropy_sampling,
    random_sampling,
)

__all__ = [
    "ActiveLearner",
    "batch_entropy_sampling",
    "gaussian_entropy",
    "max_entropy_sampling",
    "random_sampling",
    "update_estimator",
]
