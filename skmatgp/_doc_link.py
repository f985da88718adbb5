"""The link to an estimator's API page in its notebook (HTML) repr.

scikit-learn's HTML repr shows a "?" that opens the estimator's documentation; it builds the
address from ``_doc_link_module`` and ``_doc_link_template``, and for a class outside
scikit-learn it shows none unless the class sets them. Sphinx's autosummary writes one page
per public name, ``generated/<module>.<name>.html`` (docs/api.rst), so the template points
there: ``skmatgp.GPRegressor`` and ``skmatgp.active.ActiveLearner`` each get their own page.
"""

from __future__ import annotations

DOCS_URL = "https://skmatgp.readthedocs.io/en/latest/"


class DocLinkMixin:
    """Mixin (left of ``BaseEstimator``) for skmatgp's public estimators: the notebook repr
    links to the estimator's page in skmatgp's API reference."""

    _doc_link_module = "skmatgp"
    _doc_link_template = DOCS_URL + "generated/{estimator_module}.{estimator_name}.html"
