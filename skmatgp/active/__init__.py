"""Active learning: query strategies, a modAL learner fixed for current scikit-learn, campaigns."""

from ._campaign import Campaign
from ._learner import ActiveLearner, update_estimator
from ._oracles import FileOracle, TableOracle
from ._runner import labels_ratio, run_campaigns, split_test_pool
from ._strategies import (
    batch_entropy_sampling,
    density_weighted_entropy_sampling,
    gaussian_entropy,
    kcenter_greedy_sampling,
    kmeanspp_sampling,
    lcmd_sampling,
    max_entropy_sampling,
    random_sampling,
    variance_reduction_sampling,
)

__all__ = [
    "ActiveLearner",
    "Campaign",
    "FileOracle",
    "TableOracle",
    "batch_entropy_sampling",
    "density_weighted_entropy_sampling",
    "gaussian_entropy",
    "kcenter_greedy_sampling",
    "kmeanspp_sampling",
    "labels_ratio",
    "lcmd_sampling",
    "max_entropy_sampling",
    "random_sampling",
    "run_campaigns",
    "split_test_pool",
    "update_estimator",
    "variance_reduction_sampling",
]
