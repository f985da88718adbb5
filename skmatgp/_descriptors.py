"""StructureDescriptors: composition and packing numbers, the features a user tries first.

A descriptor model (a random forest or gradient boosting on these) is the baseline a graph
network must beat (how it compares is in benchmarks/RESULTS.md). The numbers also combine
with a pretrained encoder's output (:class:`PretrainedEncoderTransformer`) in a
``FeatureUnion``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from pymatgen.core import Element
from sklearn.base import BaseEstimator, TransformerMixin

from ._doc_link import DocLinkMixin
from ._structures import check_structures

N_ELEMENTS = 100  # H to Fm: element fractions cover these
ELEMENT_PROPERTIES = (
    "electronegativity",
    "atomic_radius",
    "ionization_energy",
    "electron_affinity",
    "molar_volume",
    "atomic_mass",
)
PACKING_NAMES = (
    "volume_per_atom",
    "density",
    "packing_fraction",
    "n_sites",
    "log_n_sites",
    "nearest_neighbor_min",
    "nearest_neighbor_mean",
    "lattice_anisotropy",
)


@lru_cache(maxsize=1)
def element_properties() -> np.ndarray:
    """The six properties of ``ELEMENT_PROPERTIES`` for Z = 1..100, shape (100, 6); a value
    pymatgen lacks is replaced by that property's mean over the other elements."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for each element it lacks data on
        rows = []
        for z in range(1, N_ELEMENTS + 1):
            e = Element.from_Z(z)
            ie = e.ionization_energies
            rows.append(
                [
                    e.X,
                    e.atomic_radius,
                    ie[0] if ie else np.nan,
                    e.electron_affinity,
                    e.molar_volume,
                    e.atomic_mass,
                ]
            )
    table = np.array([[np.nan if v is None else float(v) for v in r] for r in rows])
    table = np.where(np.isnan(table), np.nanmean(table, axis=0), table)
    table.setflags(write=False)
    return table


def composition_descriptors(structures) -> np.ndarray:
    """Element fractions (100), then the fraction-weighted mean, std, min and max of the six
    element properties (24): shape (n, 124)."""
    props = element_properties()
    out = []
    for i, s in enumerate(structures):
        amounts = s.composition.fractional_composition.get_el_amt_dict()
        fractions = np.zeros(N_ELEMENTS)
        for symbol, amount in amounts.items():
            if not Element.is_valid_symbol(symbol):
                raise ValueError(
                    f"Structure at index {i} contains {symbol}, which is no element (a dummy "
                    "species?); the descriptors need real elements. Remove such structures."
                )
            z = Element(symbol).Z
            if z > N_ELEMENTS:
                raise ValueError(
                    f"Structure at index {i} contains {symbol} (Z = {z}); the descriptors cover "
                    f"Z = 1 to {N_ELEMENTS}. Remove the structures with heavier elements."
                )
            fractions[z - 1] = amount
        present = fractions > 0
        p, w = props[present], fractions[present]
        mean = w @ p
        std = np.sqrt(w @ (p - mean) ** 2)
        out.append(np.concatenate([fractions, mean, std, p.min(0), p.max(0)]))
    return np.array(out)


def packing_descriptors(structures) -> np.ndarray:
    """Eight numbers on how a structure packs its atoms (``PACKING_NAMES``): volume per atom,
    density, packing fraction (atomic-radius spheres over the cell volume), number of sites
    and its log, the shortest and the mean nearest-neighbour distance (minimum image; the
    shortest lattice length for a one-site cell) and the cell's anisotropy (longest over
    shortest lattice length). A refractive index follows density and packing
    (Lorentz-Lorenz), which composition alone does not see.

    Three of them describe the cell as given, not the crystal: the site count, the anisotropy
    (from the raw lattice lengths, not a reduced cell) and, for cells of several sites, the
    nearest-neighbour distances, which leave out each site's own periodic images. Reduce the
    cells first (``Structure.get_reduced_structure()``) if two settings of one crystal must
    give the same numbers."""
    radii = element_properties()[:, 1]  # atomic radius, Å (missing: the mean)
    out = []
    for s in structures:
        lengths = s.lattice.abc
        if len(s) > 1:
            distances = s.distance_matrix + np.diag(np.full(len(s), np.inf))
            nearest = distances.min(1)
        else:
            nearest = np.array([min(lengths)])
        amounts = s.composition.get_el_amt_dict()  # atoms of each element in the cell
        spheres = sum(n * 4 / 3 * np.pi * radii[Element(e).Z - 1] ** 3 for e, n in amounts.items())
        out.append(
            [
                s.volume / len(s),
                s.density,
                spheres / s.volume,
                len(s),
                np.log(len(s)),
                nearest.min(),
                nearest.mean(),
                max(lengths) / min(lengths),
            ]
        )
    return np.array(out, dtype=float)


class StructureDescriptors(DocLinkMixin, TransformerMixin, BaseEstimator):
    """pymatgen Structures to a descriptor matrix, for any scikit-learn regressor.

    Columns: element fractions for Z = 1..100, the fraction-weighted mean, std, min and max
    of six element properties (electronegativity, atomic radius, first ionisation energy,
    electron affinity, molar volume, mass), and with ``packing=True`` eight packing numbers
    (:func:`packing_descriptors`). Nothing is learned: ``fit`` only checks the input.

    Parameters
    ----------
    packing : bool, default=True
        Add the eight packing numbers (132 columns in all; 124 without).

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingRegressor
    >>> from sklearn.pipeline import make_pipeline
    >>> model = make_pipeline(StructureDescriptors(), HistGradientBoostingRegressor())
    """

    def __init__(self, packing: bool = True):
        self.packing = packing

    def fit(self, X, y=None):
        check_structures(X)
        self.n_features_out_ = len(self.get_feature_names_out())
        return self

    def transform(self, X) -> np.ndarray:
        structures = check_structures(X)
        parts = [composition_descriptors(structures)]
        if self.packing:
            parts.append(packing_descriptors(structures))
        return np.hstack(parts)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        names = [f"fraction_{Element.from_Z(z).symbol}" for z in range(1, N_ELEMENTS + 1)]
        names += [f"{stat}_{p}" for stat in ("mean", "std", "min", "max") for p in ELEMENT_PROPERTIES]
        if self.packing:
            names += list(PACKING_NAMES)
        return np.array(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
