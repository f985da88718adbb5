"""Input coercion: turn what users hold into a 1-D object array of pymatgen Structures."""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache

import numpy as np
from pymatgen.core import IStructure, Structure

from ._arrays import object_array, table_column


def as_structure_array(structures: Iterable) -> np.ndarray:
    """Build a 1-D object array of structures, the input every skmatgp estimator takes.

    ``np.array(list_of_structures)`` is wrong: a Structure is iterable, so numpy builds an
    array of sites (or raises). This helper allocates the object array first and fills it.

    Parameters
    ----------
    structures : iterable of Structures, Structure dicts, ASE Atoms or file paths
        Dicts (``Structure.as_dict()`` output) are converted with ``Structure.from_dict``,
        ASE ``Atoms`` with pymatgen's ``AseAtomsAdaptor``, paths (str or ``pathlib.Path``)
        to CIF or POSCAR files read with ``Structure.from_file``. Estimators accept the same.

    Returns
    -------
    numpy.ndarray of shape (n,), dtype object
    """
    single = _single_item(structures)
    if single:
        raise TypeError(f"as_structure_array got {single}; pass a list, e.g. as_structure_array([item]).")
    return object_array([_coerce_one(item, i) for i, item in enumerate(structures)])


def check_structures(
    X, *, allow_empty: bool = False, first_index: int = 0, check_geometry: bool = True
) -> np.ndarray:
    """Validate estimator input and return it as a 1-D object array of Structures.

    Raises a ``TypeError`` or ``ValueError`` that names the offending index, counted from
    ``first_index`` (where X starts in a larger input). A one-column table (pandas or polars)
    counts as its column. With ``check_geometry`` (the default), degenerate structures
    (:func:`find_degenerate_structures`: NaN or infinite coordinates or lattice, a zero or
    near-zero cell volume, atoms closer than 0.5 Å) are refused too; a caller that skips bad
    structures instead (``on_error="warn"``) passes False and asks :func:`structure_problem`.
    """
    X = table_column(X, "pymatgen Structures")
    single = _single_item(X)
    if single:
        raise TypeError(f"Expected a sequence of structures, got {single}. Wrap it in a list: [item].")
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
    if check_geometry:
        problems = find_degenerate_structures(out, first_index=first_index)
        if problems:
            raise ValueError(_describe_problems(problems))
    return out


# Two atoms closer than this (periodic images included) make a structure degenerate. The
# shortest interatomic distance in real matter is the H-H bond of H2, 0.74 Å; the closest pair
# among the 50,255 DFT structures of the four datasets under shared/data (elastic_tensor_2015,
# matbench_dielectric, castelli_perovskites_7k, mp_2020) is 0.75 Å (H-H, in H3F2), and the
# next-shortest bonds (O-H, C-H) are near 1 Å. So 0.5 Å, pymatgen's own ``Structure.is_valid``
# tolerance, is well below any real structure and refuses only overlapping sites: duplicated
# atoms, a wrong cell, coordinates in the wrong units.
MIN_DISTANCE = 0.5  # Å
# A cell whose atoms are all at least MIN_DISTANCE apart holds at least this much volume per atom
# (the densest packing of spheres of diameter MIN_DISTANCE, d^3 / sqrt(2)); any smaller cell,
# a zero volume included, must have atoms closer than MIN_DISTANCE. Checked first, so that a
# flat cell never reaches the neighbour search.
MIN_VOLUME_PER_ATOM = MIN_DISTANCE**3 / np.sqrt(2)  # 0.088 Å^3
_BRUTE_FORCE_ATOMS = 400  # above this many atoms, a k-d tree instead of all pairs
_MAX_IMAGES = 10_000  # periodic images per atom beyond which a cell is refused as too skewed


def find_degenerate_structures(structures, *, first_index: int = 0) -> dict[int, str]:
    """What is wrong with each structure that no model can read, by index.

    A structure is degenerate when its lattice or coordinates hold NaN or infinity, when its cell
    volume is zero or near zero (below ``MIN_VOLUME_PER_ATOM`` per atom), or when two atoms (or
    an atom and a periodic image, its own included) are closer than ``MIN_DISTANCE`` (0.5 Å).
    Such a structure gives a model numbers (NaN, or features of overlapping atoms) that look
    like an answer and are not.

    Parameters
    ----------
    structures : iterable of Structure
    first_index : int, default=0
        Where ``structures`` starts in a larger input; the keys count from it.

    Returns
    -------
    dict of int to str
        Index to a phrase that follows "Structure at index i", e.g. "has sites 0 and 5 (Na and
        Cl) 0.1 Å apart, ...". Empty when every structure is sound.
    """
    problems = {}
    for i, structure in enumerate(structures):
        problem = structure_problem(structure)
        if problem is not None:
            problems[first_index + i] = problem
    return problems


def structure_problem(structure) -> str | None:
    """Why a Structure is degenerate (see :func:`find_degenerate_structures`), or None."""
    lattice = structure.lattice
    matrix = lattice.matrix
    if not np.isfinite(matrix).all():
        return f"has a lattice with NaN or infinite entries {np.asarray(matrix).tolist()}"
    n = len(structure)
    if n == 0:
        return None
    frac = structure.frac_coords
    if not np.isfinite(frac).all():
        bad = np.flatnonzero(~np.isfinite(frac).all(axis=1))
        return (
            f"has NaN or infinite coordinates at site{'s' if len(bad) > 1 else ''} "
            f"{', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''}"
        )
    volume, spacing = _volume_and_spacing(matrix)
    if not math.isfinite(volume):
        return f"has a lattice too large to compute with (lengths {lattice.abc})"
    if not volume >= n * MIN_VOLUME_PER_ATOM:
        return (
            f"has a cell volume of {volume:.3g} Å^3 for {n} atom{'s' if n > 1 else ''}: zero or near "
            f"zero (atoms at least {MIN_DISTANCE} Å apart need at least {MIN_VOLUME_PER_ATOM:.3f} Å^3 "
            "each), a flat or collapsed cell"
        )
    pbc = tuple(bool(p) for p in lattice.pbc)
    close = _closest_pair(frac, np.asarray(matrix, dtype=np.float64), pbc, spacing, lattice)
    if isinstance(close, str):
        return close
    if close is None:
        return None
    i, j, distance = close
    if i == j:
        return (
            f"has site {i} ({structure[i].species_string}) {distance:.3g} Å from its own periodic "
            f"image, closer than the {MIN_DISTANCE} Å any two atoms keep: a lattice vector is too short"
        )
    return (
        f"has sites {i} and {j} ({structure[i].species_string} and {structure[j].species_string}) "
        f"{distance:.3g} Å apart, closer than the {MIN_DISTANCE} Å any two atoms keep "
        "(overlapping or duplicated atoms)"
    )


def _volume_and_spacing(matrix) -> tuple[float, tuple[float, float, float]]:
    """The cell's volume and the spacing of its lattice planes across each axis (the volume over
    the area of the face the other two vectors span), in plain floats: numpy's cross and det
    cost more than the arithmetic on a 3x3 matrix."""
    (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = np.asarray(matrix).tolist()
    bc = (b2 * c3 - b3 * c2, b3 * c1 - b1 * c3, b1 * c2 - b2 * c1)
    ca = (c2 * a3 - c3 * a2, c3 * a1 - c1 * a3, c1 * a2 - c2 * a1)
    ab = (a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1)
    volume = abs(a1 * bc[0] + a2 * bc[1] + a3 * bc[2])
    areas = [math.hypot(*face) for face in (bc, ca, ab)]
    spacing = tuple(volume / area if area > 0 else 0.0 for area in areas)
    return volume, spacing


@lru_cache(maxsize=64)
def _images(reach: tuple[int, int, int]) -> np.ndarray:
    """The integer cell offsets within ``reach`` cells along each axis, shape (m, 3)."""
    grid = np.meshgrid(*(np.arange(-m, m + 1) for m in reach), indexing="ij")
    images = np.stack(grid, axis=-1).reshape(-1, 3).astype(np.float64)
    images.flags.writeable = False
    return images


def _reach(spacing, pbc, r: float) -> tuple[int, int, int]:
    # With fractional differences wrapped into [-1/2, 1/2], an image t cells away along an axis
    # whose planes are s apart is at least (|t| - 1/2) s away: only |t| <= r / s + 1/2 can be
    # within r. Real cells (planes more than 2 r = 1 Å apart) need the wrapped difference only.
    return tuple(math.floor(r / s + 0.5) if p else 0 for s, p in zip(spacing, pbc, strict=True))


def _closest_pair(frac, matrix, pbc, spacing, lattice, r: float = MIN_DISTANCE):
    """The closest pair ``(i, j, distance)`` of sites less than ``r`` apart (``j == i`` for an atom
    and its own periodic image), None when there is none, or a string when the cell is too
    skewed to search."""
    reach = _reach(spacing, pbc, r)
    if math.prod(2 * m + 1 for m in reach) > 27 and all(pbc):
        # a skewed basis: search a reduced one (the same lattice, shorter and more orthogonal
        # vectors) in which the images to check are few
        reduced = lattice.get_lll_reduced_lattice()
        frac = reduced.get_fractional_coords(frac @ matrix)
        matrix = np.asarray(reduced.matrix, dtype=np.float64)
        spacing = _volume_and_spacing(matrix)[1]
        reach = _reach(spacing, pbc, r)
    n_images = math.prod(2 * m + 1 for m in reach)
    if n_images > _MAX_IMAGES:
        return (
            f"has a periodic cell too thin to search for overlapping atoms (lattice planes "
            f"{min(spacing):.3g} Å apart); pass a reduced cell (Structure.get_reduced_structure())"
        )
    periodic = np.array(pbc)
    n = len(frac)
    if n > _BRUTE_FORCE_ATOMS:
        return _closest_pair_tree(frac, matrix, periodic, reach, r)
    diff = frac[:, None, :] - frac[None, :, :]
    if periodic.all():
        diff -= np.round(diff)
    else:
        diff[..., periodic] -= np.round(diff[..., periodic])
    diff = diff.reshape(-1, 3)
    best = None
    for image in _images(reach):
        cart = (diff + image) @ matrix if image.any() else diff @ matrix
        dist2 = np.einsum("ij,ij->i", cart, cart)
        if not image.any():
            dist2[:: n + 1] = np.inf  # an atom and itself
        k = int(np.argmin(dist2))
        if dist2[k] < r * r and (best is None or dist2[k] < best[2]):
            best = (k // n, k % n, float(dist2[k]))
    if best is None:
        return None
    i, j, dist2 = best
    return min(i, j), max(i, j), math.sqrt(dist2)


def _closest_pair_tree(frac, matrix, periodic, reach, r: float):
    """``_closest_pair`` for large cells: a k-d tree of the atoms and their images around the
    cell, O(n log n) instead of the n^2 pairs."""
    from scipy.spatial import cKDTree

    wrapped = frac.copy()
    wrapped[:, periodic] -= np.floor(wrapped[:, periodic])
    # wrapped into the cell, a neighbour within r can sit one cell further than ``reach``
    shell = _images(tuple(m + int(p) for m, p in zip(reach, periodic, strict=True)))
    n = len(frac)
    home = int(np.flatnonzero(~shell.any(axis=1))[0])  # the zero offset: the atoms themselves
    points = ((wrapped[None, :, :] + shell[:, None, :]) @ matrix).reshape(-1, 3)
    centers = points[home * n : (home + 1) * n]
    counts = cKDTree(points).query_ball_point(centers, r, return_length=True)
    best = None
    for i in np.flatnonzero(counts > 1):  # each atom finds itself
        dist = np.linalg.norm(points - centers[i], axis=1)
        dist[home * n + i] = np.inf
        k = int(np.argmin(dist))
        if best is None or dist[k] < best[2]:
            j = k % n
            best = (int(min(i, j)), int(max(i, j)), float(dist[k]))
    return best


def _describe_problems(problems: dict[int, str], shown: int = 3) -> str:
    items = sorted(problems.items())
    text = " ".join(f"Structure at index {i} {reason}." for i, reason in items[:shown])
    more = f" ({len(items) - shown} more)" if len(items) > shown else ""
    return f"{text}{more} Remove {'these structures' if len(items) > 1 else 'it'} from the input."


def _single_item(X) -> str | None:
    """What X is when it is one structure rather than a sequence of them (a Structure, an ASE
    Atoms or a path: each iterable, or not a sequence at all), for the error; else None."""
    if isinstance(X, IStructure):  # Structure too
        return "a single Structure"
    if _is_ase_atoms(X):
        return "a single ASE Atoms"
    if isinstance(X, (str, os.PathLike)):
        folder = ""
        if os.path.isdir(X):
            folder = f" (a folder: list its files, e.g. sorted(pathlib.Path({os.fspath(X)!r}).glob('*.cif')))"
        return f"a single path {os.fspath(X)!r}{folder}"
    return None


def _coerce_one(item, index: int) -> Structure:
    """One input item as a Structure: a Structure, an IStructure, a ``Structure.as_dict()``
    dict, a path to a structure file (CIF, POSCAR, ...) or an ASE ``Atoms``."""
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
    if isinstance(item, (str, os.PathLike)):
        return _read_structure_file(item, index)
    if _is_ase_atoms(item):
        return _from_ase(item, index)
    raise TypeError(
        f"Item at index {index} is a {type(item).__name__}, not a pymatgen Structure. Pass "
        "Structures, Structure.as_dict() dicts, ASE Atoms or paths to CIF/POSCAR files."
    )


# the start of a CIF's line, or a POSCAR's many numbers (8 or more words), tell structure text
# from a Windows path written in a plain string literal, whose "\n" became a line break
_STRUCTURE_TEXT = re.compile(r"^\s*(data_|loop_|_cell_|_atom_site)", re.MULTILINE)
_ESCAPED = re.compile(r"[\a\b\t\n\v\f\r]")  # what "\a" ... "\r" in a Windows path became
_RAW = "a Windows path? Write it as r'...' or with forward slashes (C:/data/new/mp-1.cif)."


def _read_structure_file(path, index: int) -> Structure:
    """``Structure.from_file``, its failure named by the path and the item's index."""
    text = os.fspath(path)
    if isinstance(text, str) and "\n" in text:
        if _STRUCTURE_TEXT.search(text) or len(text.split()) >= 8:
            raise ValueError(
                f"Item at index {index} is a string of several lines, not a path; for CIF text use "
                "Structure.from_str(text, fmt='cif')."
            )
        raise ValueError(f"Item at index {index} is {text!r}, a string of several lines, not a path: {_RAW}")
    if not os.path.isfile(text):
        where = "a folder, not a file" if os.path.isdir(text) else "no such file"
        hint = f": {_RAW}" if isinstance(text, str) and _ESCAPED.search(text) else "."
        raise ValueError(f"Item at index {index} is the path {text!r}: {where}{hint}")
    try:
        return Structure.from_file(text)
    except Exception as exc:  # pymatgen's parsers raise many types
        raise ValueError(
            f"Item at index {index}: cannot read a structure from {text!r} ({type(exc).__name__}: {exc}). "
            "Pass a CIF or POSCAR file that pymatgen reads (Structure.from_file tells the format "
            "by the name: *.cif, POSCAR*, CONTCAR*, *.vasp, ...)."
        ) from exc


def _is_ase_atoms(item) -> bool:
    # an Atoms object means ase is imported already: look it up rather than import it
    ase = sys.modules.get("ase")
    return ase is not None and isinstance(item, ase.Atoms)


def _from_ase(atoms, index: int) -> Structure:
    """An ASE Atoms as a Structure (pymatgen's ``AseAtomsAdaptor``); it must be a crystal."""
    from pymatgen.io.ase import AseAtomsAdaptor

    if not atoms.pbc.any() or atoms.cell.rank < 3:
        raise ValueError(
            f"Item at index {index} is an ASE Atoms ({atoms.get_chemical_formula()}) without a "
            f"periodic cell (pbc={atoms.pbc.tolist()}, cell rank {atoms.cell.rank}): a molecule? "
            "skmatgp's models take crystals; set the cell and pbc=True."
        )
    return AseAtomsAdaptor.get_structure(atoms, cls=Structure)


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
