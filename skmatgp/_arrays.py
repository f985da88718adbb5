"""1-D object arrays of graphs or structures, built without numpy probing the items."""

from __future__ import annotations

import numpy as np


def object_array(items) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are.

    Built item by item: ``np.asarray`` unpacks a list of PyG ``Data`` (each has ``__len__``
    and ``__getitem__``), and slice assignment probes every item as a sequence first, which
    costs about 8 µs per graph, as much as the rest of building a small crystal graph.
    """
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def table_column(X, what: str):
    """A table's one column as a 1-D object array; anything else as it is.

    Tables reach an estimator when a user holds structures in a DataFrame column (a
    ColumnTransformer hands on ``df[["structure"]]``), and when ``set_output(transform="pandas")``
    or ``sklearn.set_config(transform_output="pandas")`` makes CrystalGraphTransformer wrap its
    graphs in a one-column DataFrame. Iterating a DataFrame yields its column names, so without
    this the items would be strings. ``what`` names the items, for the error.
    """
    if _is_frame(X) and len(X.columns) != 1:
        raise TypeError(
            f"Got a table with {len(X.columns)} columns {list(X.columns)[:5]}; pass the one "
            f"column that holds the {what} (df[name]), or pick it with a ColumnTransformer."
        )
    column = first_column(X)
    return X if column is None else object_array(list(column))


def first_column(X):
    """A pandas or polars DataFrame's first column, a Series itself; None for anything else
    (and for a DataFrame without columns)."""
    if _is_frame(X):
        name = next(iter(X.columns), None)
        return None if name is None else X[name]
    if hasattr(X, "to_numpy") and len(getattr(X, "shape", ())) == 1:
        return X
    return None


def _is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "shape")
