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
