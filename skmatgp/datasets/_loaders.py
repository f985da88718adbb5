"""Loaders: the known datasets from a data home, and the user's own CGCNN or Matbench files."""

from __future__ import annotations

import csv
import gzip
import os
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import orjson
from pymatgen.core import Composition, Element, Lattice, Structure
from sklearn.utils import Bunch

from .._structures import as_structure_array
from ._download import ensure_file, read_verified
from ._registry import DATASETS, describe

DATA_HOME_ENV = "SKMATGP_DATA"


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Where dataset files are looked for.

    The argument if given, else the environment variable ``SKMATGP_DATA``, else
    ``~/skmatgp_data``.
    """
    if data_home is not None:
        return Path(data_home).expanduser()
    if os.environ.get(DATA_HOME_ENV):
        return Path(os.environ[DATA_HOME_ENV]).expanduser()
    return Path.home() / "skmatgp_data"


def load_dataset(
    name: str = "elastic_tensor_2015",
    *,
    data_home: str | os.PathLike | None = None,
    target: str | None = None,
    return_X_y: bool = False,
    contains_element: str | None = None,
    download_if_missing: bool = True,
):
    """Load a real crystal dataset as a scikit-learn ``Bunch``.

    A dataset missing from the data home is downloaded once, checked against a pinned sha256
    and converted (see :func:`fetch_dataset`).

    Parameters
    ----------
    name : str, default="elastic_tensor_2015"
        One of ``elastic_tensor_2015`` (bundled), ``matbench_dielectric``,
        ``castelli_perovskites_7k``, ``mp_2020`` and ``mp_2020_oxides`` (mp_2020's
        16,994 oxygen-containing structures, the closest public stand-in for the paper's
        unpublished data).
    data_home : path, optional
        Folder holding the dataset files; see :func:`get_data_home`. Not needed for the
        bundled ``elastic_tensor_2015``.
    target : str, optional
        Which target to return; each dataset has a default (see ``DESCR``).
    return_X_y : bool, default=False
        Return ``(structures, target)`` instead of a Bunch.
    contains_element : str, optional
        Keep only the structures that contain this element (e.g. ``"O"``); on
        ``mp_2020_oxides`` it keeps the oxides that also contain it.
    download_if_missing : bool, default=True
        Download a missing file. ``False``, or the environment variable ``SKMATGP_OFFLINE=1``,
        raises ``FileNotFoundError`` instead, naming where it would come from.

    Returns
    -------
    Bunch with ``structures`` (1-D object array of Structure), ``target`` (float array),
    ``ids``, ``formulas``, ``target_name`` and ``DESCR``; or ``(structures, target)``.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    info = DATASETS[name]
    target = info.default_target if target is None else target
    if target not in info.targets:
        raise ValueError(f"Dataset {name!r} has no target {target!r}; choose one of {list(info.targets)}.")
    if contains_element is not None and not Element.is_valid_symbol(contains_element):
        raise ValueError(
            f"contains_element={contains_element!r} is not an element symbol; symbols are "
            "case-sensitive, e.g. 'Fe' or 'O'."
        )
    elements = [e for e in (info.contains_element, contains_element) if e]

    if info.bundled:
        raw = resources.files("skmatgp.datasets").joinpath("data", info.filename).read_bytes()
    else:
        raw = read_verified(info, ensure_file(info, get_data_home(data_home), download_if_missing))
    rows = [orjson.loads(line) for line in gzip.decompress(raw).splitlines() if line]
    for element in elements:
        rows = [row for row in rows if _contains(row["structure"], element)]

    spec = info.targets[target]
    values = np.array([row[spec.column] for row in rows], dtype=float)
    bunch = Bunch(
        structures=_structures_from_dicts(row["structure"] for row in rows),
        target=spec.apply(values),
        ids=np.array([row["id"] for row in rows], dtype=object),
        formulas=np.array([row["formula"] for row in rows], dtype=object),
        target_name=target,
        DESCR=describe(info, target, len(rows), contains_element),
    )
    if return_X_y:
        return bunch.structures, bunch.target
    return bunch


def fetch_dataset(name: str, *, data_home: str | os.PathLike | None = None) -> Path:
    """Make sure a dataset's file is in the data home, downloading it if missing.

    Use it to fill a data home ahead of time (on a machine with internet, or from a mirror).
    A missing file comes from ``$SKMATGP_DATA_URL`` if set (a server with the data home's own
    file names, checked against ``DATASETS[name].sha256``), else from the dataset's public
    source: each file in ``DATASETS[name].sources`` is checked against its pinned sha256 and
    converted once to the data home's format, with a progress bar. A dataset without a public
    source with a checksum (``mp_2020``) raises ``FileNotFoundError`` unless a mirror serves it.
    ``SKMATGP_OFFLINE=1`` forbids downloads.

    Parameters
    ----------
    name : str
        A dataset name, as in :func:`load_dataset`.
    data_home : path, optional
        The data home; see :func:`get_data_home`.

    Returns
    -------
    pathlib.Path
        The verified file in the data home (for the bundled dataset, in the package).
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(DATASETS)}.")
    info = DATASETS[name]
    if info.bundled:
        return Path(str(resources.files("skmatgp.datasets").joinpath("data", info.filename)))
    path = ensure_file(info, get_data_home(data_home))
    read_verified(info, path)
    return path


def _contains(structure_dict: dict, element: str) -> bool:
    return any(
        species["element"] == element for site in structure_dict["sites"] for species in site["species"]
    )


def _structures_from_dicts(dicts) -> np.ndarray:
    compositions: dict = {}
    return as_structure_array(_structure_from_dict(d, compositions) for d in dicts)


_PLAIN_SPECIES_KEYS = {"element", "occu"}  # an Element's site dict; a Species adds oxidation_state


def _structure_from_dict(d: dict, compositions: dict) -> Structure:
    """``Structure.from_dict``, with less work for the common case.

    ``from_dict`` builds every site twice and a new Composition per site; here a site's
    species Composition is shared between all sites with the same species and occupancy.
    Dicts with site or structure properties, or with species beyond element and occupancy
    (oxidation states, spins), take pymatgen's own path.
    """
    sites = d["sites"]
    if (
        d.get("properties")
        or any(site.get("properties") for site in sites)
        or any(sp.keys() - _PLAIN_SPECIES_KEYS for site in sites for sp in site["species"])
    ):
        return Structure.from_dict(d)
    species = []
    for site in sites:
        key = tuple((sp["element"], sp["occu"]) for sp in site["species"])
        if key not in compositions:
            compositions[key] = Composition(dict(key))
        species.append(compositions[key])
    lattice = d["lattice"]
    return Structure(
        Lattice(lattice["matrix"], pbc=tuple(lattice.get("pbc", (True, True, True)))),
        species,
        [site["abc"] for site in sites],
        labels=[site.get("label") for site in sites],
        charge=d.get("charge"),
    )


def load_cgcnn_folder(path: str | os.PathLike, *, return_X_y: bool = False):
    """Read a CGCNN-style folder: ``id_prop.csv`` (``id,value`` rows) and ``<id>.cif`` files.

    Returns a Bunch like :func:`load_dataset` (``formulas`` from the parsed structures).
    """
    folder = Path(path)
    table = folder / "id_prop.csv"
    if not table.is_file():
        raise FileNotFoundError(
            f"{table} not found: a CGCNN folder holds id_prop.csv (rows 'id,value') "
            "beside one <id>.cif file per row."
        )
    ids, values = [], []
    with table.open(newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if not row:
                continue
            try:
                ids.append(row[0].strip())
                values.append(float(row[1]))
            except (IndexError, ValueError) as exc:
                header = " If it is a header row, delete it: CGCNN's id_prop.csv has none." if line_no == 1 else ""
                raise ValueError(
                    f"{table} line {line_no}: expected 'id,value' with a number as the value, "
                    f"got {row!r}.{header}"
                ) from exc
    structures = []
    for structure_id in ids:
        cif = folder / f"{structure_id}.cif"
        if not cif.is_file():
            raise FileNotFoundError(f"{cif} is listed in {table} but does not exist.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures.append(Structure.from_file(cif))
    return _user_bunch(structures, values, ids, "value", f"CGCNN folder {folder}", return_X_y)


def load_matbench_json(path: str | os.PathLike, *, target: str | None = None, return_X_y: bool = False):
    """Read a Matbench dataset file (``.json`` or ``.json.gz``).

    Matbench publishes pandas JSON in the ``split`` orientation: ``columns`` (a
    ``structure`` column of Structure dicts and one target column), ``index`` and ``data``.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    table = orjson.loads(raw)
    if not (isinstance(table, dict) and {"columns", "data"} <= table.keys()):
        raise ValueError(
            f"{path} is not a Matbench file: expected pandas 'split' JSON with 'columns' and 'data' keys."
        )
    columns = list(table["columns"])
    if "structure" not in columns:
        raise ValueError(f"{path} has no 'structure' column; columns are {columns}.")
    others = [c for c in columns if c != "structure"]
    if target is None:
        if len(others) != 1:
            raise ValueError(f"{path} has several target columns {others}; pass target=.")
        target = others[0]
    if target not in others:
        raise ValueError(f"{path} has no column {target!r}; columns are {columns}.")
    s_col, t_col = columns.index("structure"), columns.index(target)
    structures = [Structure.from_dict(row[s_col]) for row in table["data"]]
    values = [row[t_col] for row in table["data"]]
    ids = [str(i) for i in table.get("index", range(len(values)))]
    return _user_bunch(structures, values, ids, target, f"Matbench file {path}", return_X_y)


def _user_bunch(structures, values, ids, target_name, origin, return_X_y):
    structures = as_structure_array(structures)
    target = np.asarray(values, dtype=float)
    if return_X_y:
        return structures, target
    return Bunch(
        structures=structures,
        target=target,
        ids=np.array(ids, dtype=object),
        formulas=np.array([s.composition.reduced_formula for s in structures], dtype=object),
        target_name=target_name,
        DESCR=f"{len(structures)} structures read from {origin}; target {target_name}.",
    )
