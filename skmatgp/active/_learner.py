"""A modAL ActiveLearner that works on current scikit-learn and over crystal structures.

modAL 0.4.2.1 validates with ``check_X_y(..., force_all_finite=...)``; scikit-learn 1.8
removed that keyword, so ``fit`` and ``teach`` fail (modAL issue #196). This subclass does
the same bookkeeping with a check that works on every scikit-learn and on 1-D object arrays
of Structures or graphs. Use it wherever you would use ``modAL.models.ActiveLearner``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from modAL.models import ActiveLearner as _ModalActiveLearner
from modAL.utils.data import data_vstack
from pymatgen.core import IStructure
from torch_geometric.data import Data

from .._arrays import first_column, object_array, table_column
from .._pipeline import final_step, update_estimator


def _as_object_array(X):
    """Lists, and one-column tables, of structures or graphs as 1-D object arrays (modAL's
    stacking and row retrieval need arrays); numeric inputs (feature rows) as they are."""
    column = first_column(X)
    if column is not None:
        return table_column(X, "structures or graphs") if _is_item(next(iter(column), None)) else X
    if isinstance(X, (list, tuple)) and len(X) and _is_item(X[0]):
        return object_array(X)
    return X


def _is_item(value) -> bool:
    """A structure, a structure dict or a crystal graph: not a row of numbers."""
    return isinstance(value, (IStructure, Mapping, Data))


def _check_X_y(X, y) -> None:
    n_x = X.shape[0] if hasattr(X, "shape") else len(X)
    y = np.asarray(y)
    if n_x != y.shape[0]:
        raise ValueError(f"X has {n_x} samples but y has {y.shape[0]}; they must match.")
    if np.issubdtype(y.dtype, np.number) and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite labels; fix or drop them before teaching.")


class ActiveLearner(_ModalActiveLearner):
    """``modAL.models.ActiveLearner`` with input checks that work on scikit-learn >= 1.8.

    ``teach(X, y, only_new=True)`` adds the labels and calls the estimator's ``update``
    (for a Pipeline, its last step's, after the other steps transform X): a cheap GP
    conditioning, no retraining. Estimators without ``update`` are fitted on the new
    labels only, as in modAL, with a warning. With ``only_new=False`` (modAL's default)
    the estimator is refitted on all labels seen so far.
    """

    def __init__(
        self,
        estimator,
        query_strategy=None,
        X_training=None,
        y_training=None,
        bootstrap_init: bool = False,
        on_transformed: bool = False,
        **fit_kwargs,
    ):
        if query_strategy is None:
            from ._strategies import max_entropy_sampling as query_strategy
        super().__init__(
            estimator,
            query_strategy,
            _as_object_array(X_training),
            y_training,
            bootstrap_init,
            on_transformed,
            **fit_kwargs,
        )

    def _add_training_data(self, X, y) -> None:
        _check_X_y(X, y)
        X = _as_object_array(X)
        if self.X_training is None:
            self.X_training, self.y_training = X, y
        else:
            self.X_training = data_vstack((self.X_training, X))
            self.y_training = data_vstack((self.y_training, y))

    def fit(self, X, y, bootstrap: bool = False, **fit_kwargs):
        _check_X_y(X, y)
        self.X_training, self.y_training = _as_object_array(X), y
        return self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    def query(self, X_pool, *query_args, **query_kwargs):
        """modAL's query, with a list pool turned into a 1-D object array first: modAL's row
        retrieval would otherwise fail on it, or, where every structure has the same number
        of sites, hand back lists of sites instead of the structures."""
        return super().query(_as_object_array(X_pool), *query_args, **query_kwargs)

    def teach(self, X, y, bootstrap: bool = False, only_new: bool = False, **fit_kwargs) -> None:
        if not only_new:
            self._add_training_data(X, y)
            self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)
            return
        self._add_training_data(X, y)
        if not update_estimator(self.estimator, X, y):
            warnings.warn(
                f"{type(final_step(self.estimator)).__name__} has no update(X, y), so "
                f"teach(..., only_new=True) fits it on the {len(y)} new label(s) alone, as modAL "
                f"does: the model forgets the {len(self.y_training) - len(y)} earlier ones. Use "
                "only_new=False to refit on all labels.",
                UserWarning,
                stacklevel=2,
            )
            self._fit_on_new(X, y, bootstrap=bootstrap, **fit_kwargs)
