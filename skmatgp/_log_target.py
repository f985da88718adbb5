"""A positive target fitted on the log scale, predicted with a std on its own scale."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._doc_link import DocLinkMixin
from ._graphs import CrystalGraphTransformer
from ._pipeline import final_step, update_estimator
from ._regressor import GNNGPRegressor
from ._target import IDENTITY, LOG


def fitted_log_target(regressor_):
    """A fitted LogTargetRegressor around ``regressor_``, a model already fitted on log(y):
    how a campaign hands its model of log(y) to a query strategy or to a file."""
    model = LogTargetRegressor(regressor=clone(regressor_))
    model.regressor_ = regressor_
    return model


def split_target_transform(estimator):
    """``(model, transform)``: the fitted model of the scale the target is fitted on, and the
    ``skmatgp._target.TargetTransform`` back to y, for code that reaches the GP itself
    (query strategies, pool scoring). With no LogTargetRegressor, ``estimator`` itself and
    ``IDENTITY``. With one that is ``estimator`` or the last step of the Pipeline
    ``estimator``, its fitted model of log(y) and ``LOG``: for the Pipeline a Pipeline of the
    same fitted steps, ending in the LogTargetRegressor's fitted regressor (its steps, if that
    is a Pipeline), with the outer Pipeline's other parameters (``memory``, ``verbose``...);
    ``(None, LOG)`` while that LogTargetRegressor is unfitted."""
    last = final_step(estimator)
    if not isinstance(last, LogTargetRegressor):
        return estimator, IDENTITY
    if not hasattr(last, "regressor_"):
        return None, LOG
    if last is estimator:
        return last.regressor_, LOG
    inner = last.regressor_
    inner_steps = inner.steps if isinstance(inner, Pipeline) else [(estimator.steps[-1][0], inner)]
    steps = [*estimator.steps[:-1], *inner_steps]
    settings = {k: v for k, v in estimator.get_params(deep=False).items() if k != "steps"}
    return Pipeline(steps, **settings), LOG


class LogTargetRegressor(DocLinkMixin, RegressorMixin, BaseEstimator):
    """Fit ``regressor`` on log(y) for a positive, heavy-tailed target; predict y.

    A GP on log(y) treats a relative error alike at every size of y. How much that gains on
    a heavy-tailed Matbench target: ``benchmarks/RESULTS.md``. Whether it helps on a given
    target is for the validation error to say (user guide, "Comparing settings without a
    test set"). The log and its way back are ``skmatgp._target.TargetTransform``'s
    ``LOG``, which campaigns, query strategies and pool scoring share.

    The model of y is log-normal: a Gaussian N(mu, s^2) on log(y). ``predict`` returns its
    median exp(mu); ``return_std=True`` adds the delta-method std exp(mu) * s, the Gaussian
    the usual metrics need. That Gaussian is too narrow in the upper tail when s is large;
    ``predict_interval`` gives the log-normal's own interval exp(mu -/+ z s).

    y must be positive and finite: ``fit`` and ``update`` refuse zero, negative, NaN or
    infinite values, naming the first (a band gap of 0.0 for a metal has no log; model such
    a target without the log). A y constant on the training set gets the inner regressor's
    warning about log(y). Where the median, std or interval leaves float64's range (y near
    1e-308 or 1e308), a warning names the item.

    Parameters
    ----------
    regressor : estimator, default=None
        Anything with ``fit(X, y)`` and ``predict(X, return_std=True)`` returning (mean,
        std) on the scale it was fitted on; it is cloned. None:
        ``make_pipeline(CrystalGraphTransformer(), GNNGPRegressor())``, which takes pymatgen
        Structures.

    Attributes
    ----------
    regressor_ : estimator
        The clone fitted on log(y); its predictions are on the log scale.
    n_features_in_ : int
        The fitted regressor's, where it has one (a regressor on a feature matrix).
    """

    def __init__(self, regressor=None):
        self.regressor = regressor

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.regressor is None:
            tags.input_tags.two_d_array = False  # the default pipeline takes Structures
        else:
            try:
                tags.input_tags = get_tags(self.regressor).input_tags
            except AttributeError:  # a duck-typed regressor without scikit-learn's tags
                pass
        tags.target_tags.positive_only = True
        return tags

    @property
    def n_features_in_(self) -> int:
        """The fitted regressor's ``n_features_in_``; AttributeError before ``fit`` or where
        the regressor has none (structures in), so that ``hasattr`` says whether it applies."""
        try:
            check_is_fitted(self, "regressor_")
        except NotFittedError as error:
            raise AttributeError(f"{type(self).__name__} is not fitted yet.") from error
        return self.regressor_.n_features_in_

    @staticmethod
    def _log(y) -> np.ndarray:
        """log(y), or a ValueError naming the first y that is not positive and finite."""
        return LOG.forward(column_or_1d(y), fitter="LogTargetRegressor")

    def fit(self, X, y):
        """Fit a clone of ``regressor`` on log(y); y must be positive and finite."""
        log_y = self._log(y)
        regressor = self.regressor
        if regressor is None:
            regressor = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor())
        self.regressor_ = clone(regressor).fit(X, log_y)
        return self

    def _inner_can_update(self) -> bool:
        regressor = getattr(self, "regressor_", self.regressor)
        return regressor is None or hasattr(final_step(regressor), "update")

    @available_if(_inner_can_update)
    def update(self, X, y):
        """Condition the fitted regressor on new labels, on the log scale: its ``update(X,
        log(y))`` (a Pipeline's last step's, after the other steps transform X). What
        ``ActiveLearner.teach(..., only_new=True)`` calls; with the default regressor, a GP
        conditioning without retraining."""
        check_is_fitted(self, "regressor_")
        update_estimator(self.regressor_, X, self._log(y))
        return self

    def predict_log(self, X):
        """(mu, s): the Gaussian on log(y) for each item."""
        check_is_fitted(self, "regressor_")
        return self.regressor_.predict(X, return_std=True)

    def predict(self, X, return_std: bool = False, return_cov: bool = False):
        """The median exp(mu) of each item's log-normal; with ``return_std``, also the
        delta-method std exp(mu) * s; with ``return_cov`` (a regressor whose ``predict`` takes
        it), the delta-method covariance exp(mu_i) exp(mu_j) C_ij of the log-scale one C."""
        if return_std and return_cov:
            raise RuntimeError("At most one of return_std or return_cov can be requested.")
        if return_cov:
            check_is_fitted(self, "regressor_")
            return LOG.covariance(*self.regressor_.predict(X, return_cov=True))
        median, std = LOG.mean_std(*self.predict_log(X))
        return (median, std) if return_std else median

    def predict_interval(self, X, level: float = 0.95):
        """(lower, upper): the central ``level`` interval of each item's log-normal."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}.")
        return LOG.interval(*self.predict_log(X), level=level)
