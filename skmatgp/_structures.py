"""Input coercion: turn what users hold into a 1-D object array of pymatgen Structures."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
from pymatgen.core import IStructure, Structure

from ._arrays import object_array, table_column


def as_structure_array(structures: Iterable) -> np.ndarray:
    """Build a 1-D object array of structures, the input every skmatgp estimator takes.

    ``np.array(list_of_structures)`` is wrong: a Structure is iterable, so numpy builds an
    array of sites (or raises). This helper allocates the object array first and fills it.

    Parameters
    ----------
    structures : iterable of pymatgen Structure or Structure dicts
        Dicts (``Structure.as_dict()`` output) are converted with ``Structure.from_dict``.

    Returns
    -------
    numpy.ndarray of shape (n,), dtype object
    """
    if isinstance(structures, Structure):
        raise TypeError(
            "as_structure_array got a single Structure; pass a list of structures, "
            "e.g. as_structure_array([structure])."
        )
    return object_array([_coerce_one(item, i) for i, item in enumerate(structures)])


def check_structures(X, *, allow_empty: bool = False, first_index: int = 0) -> np.ndarray:
    """Validate estimator input and return it as a 1-D object array of Structures.

    Raises a ``TypeError`` or ``ValueError`` that names the offending index, counted from
    ``first_index`` (where X starts in a larger input). A one-column table (pandas or polars)
    counts as its column.
    """
    X = table_column(X, "pymatgen Structures")
    if isinstance(X, IStructure):  # Structure too
        raise TypeError(
            "Expected a sequence of structures, got a single Structure. Wrap it in a list: [structure]."
        )
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            numeric = ""
            if np.issubdtype(X.dtype, np.number):
                numeric = (
                    " A numeric table is a feature matrix: this estimator builds its own "
                    "features from the structures, so pass the structures themselves."
                )
            raise ValueError(
                f"Expected a 1-D array of structures, got an array of shape {X.shape}.{numeric} "
                "Build the input with skmatgp.as_structure_array(list_of_structures)."
            )
        items = X
    elif isinstance(X, (str, bytes, Mapping)) or not isinstance(X, Iterable):
        raise TypeError(
            f"Expected a list or 1-D object array of pymatgen Structures, got {type(X).__name__}."
        )
    else:
        items = list(X)
    if len(items) == 0 and not allow_empty:
        raise ValueError("Got an empty list of structures; pass at least one Structure.")
    if (
        isinstance(items, np.ndarray)
        and items.dtype == object
        and all(isinstance(s, Structure) for s in items)
    ):
        out = items
    else:
        out = object_array([_coerce_one(item, first_index + i) for i, item in enumerate(items)])
    for i, s in enumerate(out):
        if len(s) == 0:
            raise ValueError(f"Structure at index {first_index + i} has no sites; remove it from the input.")
    return out


def _coerce_one(item, index: int) -> Structure:
    if isinstance(item, Structure):
        return item
    if isinstance(item, IStructure):  # pymatgen's immutable structure
        return Structure.from_sites(item)
    if isinstance(item, Mapping):
        try:
            return Structure.from_dict(item)
        except Exception as exc:  # pymatgen raises many types for bad dicts
            raise ValueError(
                f"Item at index {index} is a dict that Structure.from_dict cannot read: {exc}"
            ) from exc
    hint = ""
    if isinstance(item, (str, os.PathLike)):
        hint = (
            " Read files first: Structure.from_file(path) for a CIF or POSCAR path, "
            "Structure.from_str(text, fmt='cif') for CIF text."
        )
    raise TypeError(
        f"Item at index {index} is a {type(item).__name__}, not a pymatgen Structure. "
        f"Pass Structure objects (or Structure.as_dict() dicts).{hint}"
    )


def structure_fingerprint(structure: Structure, decimals: int = 3) -> tuple:
    """A cheap key under which identical copies of a structure coincide.

    The formula, the lattice parameters and the sorted (element, fractional coordinates) of
    the sites, rounded to ``decimals`` (coordinates wrapped into [0, 1)). Copies with the
    sites in another order match; symmetry-equivalent structures in another cell setting or
    origin do not (use pymatgen's ``StructureMatcher`` for those).
    """
    lattice = np.round(np.array(structure.lattice.parameters), decimals)
    frac = np.round(np.mod(structure.frac_coords, 1.0), decimals) % 1.0
    sites = sorted(
        (str(site.specie), *map(float, coords)) for site, coords in zip(structure, frac, strict=True)
    )
    return (structure.composition.formula, *map(float, lattice), *sites)


def find_duplicate_structures(structures, decimals: int = 3) -> list[tuple[int, int]]:
    """Pairs ``(first, later)`` of positions whose structures are identical copies.

    Identical means the same formula, lattice parameters and sites up to their order, each
    number rounded to ``decimals`` (fractional coordinates wrapped into [0, 1)). Copies in
    another cell setting or origin are not found; use pymatgen's ``StructureMatcher`` for those.

    Parameters
    ----------
    structures : iterable of Structure
    decimals : int, default=3

    Returns
    -------
    list of (int, int)
        Each later copy paired with the first structure it repeats, in pool order.
    """
    first_seen: dict[tuple, int] = {}
    pairs = []
    for i, structure in enumerate(structures):
        key = structure_fingerprint(structure, decimals)
        if key in first_seen:
            pairs.append((first_seen[key], i))
        else:
            first_seen[key] = i
    return pairs
