"""Reaching the final step of a Pipeline, for methods a Pipeline does not forward
(``update``, ``embed``, the GP posterior)."""

from __future__ import annotations

from sklearn.pipeline import Pipeline


def final_step(estimator):
    """The last step of a Pipeline, or the estimator itself."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def transform_to_final(estimator, X):
    """X transformed by every Pipeline step before the last one (X itself otherwise)."""
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
    return X


def update_estimator(estimator, X, y) -> bool:
    """Call ``update(X, y)`` on the estimator, or on a Pipeline's last step after the
    earlier steps transform X. Return False when there is no ``update`` to call."""
    final = final_step(estimator)
    if not hasattr(final, "update"):
        return False
    final.update(transform_to_final(estimator, X), y)
    return True
