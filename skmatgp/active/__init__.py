"""Active learning: query strategies, a modAL learner fixed for current scikit-learn, campaigns.

The names load on first use (see ``skmatgp._lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_SOURCES = {
    "ActiveLearner": "._learner",
    "Campaign": "._campaign",
    "FileOracle": "._oracles",
    "TableOracle": "._oracles",
    "batch_entropy_sampling": "._strategies",
    "density_weighted_entropy_sampling": "._strategies",
    "gaussian_entropy": "._strategies",
    "kcenter_greedy_sampling": "._strategies",
    "kmeanspp_sampling": "._strategies",
    "labels_ratio": "._runner",
    "lcmd_sampling": "._strategies",
    "max_entropy_sampling": "._strategies",
    "random_sampling": "._strategies",
    "run_campaigns": "._runner",
    "split_test_pool": "._runner",
    "update_estimator": ".._pipeline",  # no modAL needed
    "variance_reduction_sampling": "._strategies",
}
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
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)

if TYPE_CHECKING:  # what editors and type checkers see
    from .._pipeline import update_estimator
    from ._campaign import Campaign
    from ._learner import ActiveLearner
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
