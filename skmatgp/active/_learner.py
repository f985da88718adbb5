"""A modAL ActiveLearner that works on current scikit-learn and over crystal structures.

modAL 0.4.2.1 validates with ``check_X_y(..., force_all_finite=...)``; scikit-learn 1.8
removed that keyword, so ``fit`` and ``teach`` fail (modAL issue #196). This subclass does
the same bookkeeping with a check that works on every scikit-learn and on 1-D object arrays
of Structures or graphs. Use it wherever you would use ``modAL.models.ActiveLearner``.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Mapping

import numpy as np

try:  # optional: modAL-python 0.4.2.1 pins skorch==0.9.0, which current Python cannot import
    from modAL.models import ActiveLearner as _ModalActiveLearner
    from modAL.utils.data import data_vstack
except ImportError as error:
    raise ImportError(
        "skmatgp.active.ActiveLearner builds on modAL: pip install 'skmatgp[modal]'. Beside "
        "skorch >= 1.0, which modAL's pin skorch==0.9.0 refuses: pip install --no-deps modAL-python "
        "(only modAL.dropout needs skorch)."
    ) from error
from pymatgen.core import IStructure
from sklearn.pipeline import Pipeline
from torch_geometric.data import Data

from .._arrays import first_column, object_array, table_column
from .._doc_link import DocLinkMixin
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


class ActiveLearner(DocLinkMixin, _ModalActiveLearner):
    """``modAL.models.ActiveLearner`` with input checks that work on scikit-learn >= 1.8.

    ``teach(X, y, only_new=True)`` adds the labels and calls the estimator's ``update``
    (for a Pipeline, its last step's, after the other steps transform X): a cheap GP
    conditioning, no retraining. Estimators without ``update`` are fitted on the new
    labels only, as in modAL, with a warning. With ``only_new=False`` (modAL's default)
    the estimator is refitted on all labels seen so far.

    ``teach`` and ``fit`` are all or nothing: if they raise (a degenerate structure, a NaN
    label, rows of another width), the training arrays and the estimator are left as they
    were, so the learner predicts and queries exactly as before. For that, a call that
    refits keeps a copy of the estimator until the fit succeeds; an ``update`` is atomic
    itself (skmatgp's regressors' are).
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
            return
        old, new = getattr(self.X_training, "shape", None), getattr(X, "shape", None)
        if old is not None and new is not None and old[1:] != new[1:]:
            raise ValueError(
                f"X's rows have shape {new[1:]} but the training data's have {old[1:]} (for "
                "feature rows: another number of features); teach items of the same kind."
            )
        X_training = data_vstack((self.X_training, X))
        self.X_training, self.y_training = X_training, data_vstack((self.y_training, y))

    @contextlib.contextmanager
    def _all_or_nothing(self, refits: bool):
        """If the block raises, put the training arrays back and, where it ``refits`` the
        estimator, the estimator too (from a copy taken here, restored in place so that
        whoever holds the estimator or a Pipeline's steps sees the state from before)."""
        arrays = (self.X_training, self.y_training)
        saved = copy.deepcopy(self.estimator) if refits else None
        try:
            yield
        except BaseException:
            self.X_training, self.y_training = arrays
            if saved is not None:
                _restore(self.estimator, saved)
            raise

    def fit(self, X, y, bootstrap: bool = False, **fit_kwargs):
        _check_X_y(X, y)
        with self._all_or_nothing(refits=True):
            self.X_training, self.y_training = _as_object_array(X), y
            return self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    def query(self, X_pool, *query_args, **query_kwargs):
        """modAL's query, with a list pool turned into a 1-D object array first: modAL's row
        retrieval would otherwise fail on it, or, where every structure has the same number
        of sites, hand back lists of sites instead of the structures."""
        return super().query(_as_object_array(X_pool), *query_args, **query_kwargs)

    def teach(self, X, y, bootstrap: bool = False, only_new: bool = False, **fit_kwargs) -> None:
        updates = only_new and hasattr(final_step(self.estimator), "update")
        with self._all_or_nothing(refits=not updates):
            self._add_training_data(X, y)
            if not only_new:
                self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)
            elif not update_estimator(self.estimator, X, y):
                warnings.warn(
                    f"{type(final_step(self.estimator)).__name__} has no update(X, y), so "
                    f"teach(..., only_new=True) fits it on the {len(y)} new label(s) alone, as "
                    f"modAL does: the model forgets the {len(self.y_training) - len(y)} earlier "
                    "ones. Use only_new=False to refit on all labels.",
                    UserWarning,
                    stacklevel=2,
                )
                self._fit_on_new(X, y, bootstrap=bootstrap, **fit_kwargs)


def _restore(target, saved) -> None:
    """Give ``target`` the state of ``saved``, its copy from before, in place; a Pipeline's
    steps likewise, each kept as the same object."""
    steps = None
    if isinstance(target, Pipeline) and isinstance(saved, Pipeline) and len(target.steps) == len(saved.steps):
        steps = [step for _, step in target.steps]
    vars(target).clear()
    vars(target).update(vars(saved))
    if steps is not None:
        kept = []
        for (name, copied), original in zip(saved.steps, steps, strict=True):
            if hasattr(original, "__dict__") and type(original) is type(copied):
                _restore(original, copied)
                copied = original
            kept.append((name, copied))
        target.steps = kept
