"""The element feature table the encoder starts from, built from pymatgen's element data.

CGCNN starts each atom from a 92-value one-hot encoding of element properties (group, period,
electronegativity, radius, ...). A learned embedding by atomic number needs many labels to
place rare elements; fixed chemistry-aware features share strength between similar elements,
which matters when labels are few. We rebuild such a table from pymatgen's element data (so
nothing external is shipped): one-hot group (18), period (7), block (4), and six continuous
properties (electronegativity, atomic radius, first ionisation energy, electron
affinity, molar volume, atomic mass) each binned into 10 quantile bins plus a 'missing' bin:
95 values per element.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from pymatgen.core import Element

MAX_Z = 100  # elements H..Fm; heavier ones have too little reference data
N_BINS = 10


def _continuous_properties(element: Element) -> list[float]:
    ionization = element.ionization_energies
    return [
        element.X,
        element.atomic_radius,
        ionization[0] if ionization else np.nan,
        element.electron_affinity,
        element.molar_volume,
        element.atomic_mass,
    ]


def _one_hot(index: int, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=np.float32)
    out[index] = 1.0
    return out


@lru_cache(maxsize=1)
def element_feature_table() -> np.ndarray:
    """Array of shape (MAX_Z + 1, 95); row Z holds element Z's features, row 0 is zeros."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elements = [Element.from_Z(z) for z in range(1, MAX_Z + 1)]
        continuous = np.array(
            [[np.nan if v is None else float(v) for v in _continuous_properties(e)] for e in elements]
        )
    blocks = "spdf"
    rows = []
    for element, values in zip(elements, continuous):
        parts = [
            _one_hot(element.group - 1, 18),
            _one_hot(element.row - 1, 7),
            _one_hot(blocks.index(element.block), 4),
        ]
        for column, value in enumerate(values):
            known = continuous[:, column][~np.isnan(continuous[:, column])]
            edges = np.quantile(known, np.linspace(0, 1, N_BINS + 1)[1:-1])
            bin_index = N_BINS if np.isnan(value) else int(np.searchsorted(edges, value))
            parts.append(_one_hot(bin_index, N_BINS + 1))
        rows.append(np.concatenate(parts))
    table = np.vstack([np.zeros_like(rows[0])] + rows)
    return table
