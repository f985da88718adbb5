"""Active learning: a modAL learner fixed for current scikit-learn, and query strategies."""

from ._learner import ActiveLearner

__all__ = ["ActiveLearner"]
