"""Campaign inputs: a pool with duplicate structures, a sparse GP head."""

import pytest

from skmatgp.active import Campaign


def _ids(n):
    return [f"s{i}" for i in range(n)]


def test_duplicate_pool_structures_warn_with_indices_and_ids(small):
    X, _ = small
    pool = list(X[:20]) + [X[3].copy()]
    with pytest.warns(UserWarning, match=r"3 \(id s3\) and 20 \(id s20\)"):
        Campaign(pool, _ids(21), lambda ids, s: None, n_initial=5, budget=5)


def test_campaign_refuses_the_sparse_head(small):
    X, _ = small
    with pytest.raises(ValueError, match="gp_head='exact'"):
        Campaign(
            X,
            _ids(len(X)),
            lambda ids, s: None,
            n_initial=5,
            budget=5,
            representation="graph",
            estimator_params={"gp_head": "sparse"},
        )
