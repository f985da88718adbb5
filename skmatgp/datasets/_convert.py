"""Turning a dataset's published files into the data home's own format.

The data home holds gzip-compressed JSON Lines, one object a line:
``{"id": ..., "formula": ..., "structure": Structure.as_dict() without the per-site "xyz",
<target columns>}``. Each conversion here reads one kind of published file and yields those rows
in the published order.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
from pymatgen.core import Structure

from ._registry import DatasetInfo


def convert(info: DatasetInfo, paths: list[Path], out: Path) -> None:
    """Write ``info``'s rows, read from the downloaded ``paths``, to ``out``."""
    rows = list(CONVERSIONS[info.conversion](info, paths))
    if len(rows) != info.n_rows:
        raise ValueError(
            f"Converting {', '.join(s.url for s in info.sources)} gave {len(rows)} rows, expected "
            f"{info.n_rows}: the published file is not the one skmatgp knows."
        )
    write_rows(rows, out)


def write_rows(rows, out: Path) -> None:
    """gzip JSON Lines; the same rows give the same bytes (no time stamp, no file name)."""
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    with out.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(text.encode())


def row(structure: Structure, row_id: str, labels: dict) -> dict:
    """One data-home row; ``xyz`` is dropped because ``Structure.from_dict`` rebuilds it."""
    d = structure.as_dict()
    for site in d["sites"]:
        site.pop("xyz", None)
    return {"id": row_id, "formula": structure.composition.reduced_formula, "structure": d, **labels}


def matbench_rows(info: DatasetInfo, paths: list[Path]) -> Iterator[dict]:
    """A matminer / Matbench dataframe file (``.json`` or ``.json.gz``).

    matminer writes pandas JSON in the ``split`` orientation (``columns``, ``index``, ``data``);
    the ``columns`` orientation (``{column: {row key: value}}``) is read too. Ids follow
    Matbench's ``mb-<task>-NNNN``, numbered from 1 in the file's row order.
    """
    (path,) = paths
    raw = path.read_bytes()
    table = orjson.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    labels = list(dict.fromkeys(target.column for target in info.targets.values()))
    if isinstance(table, dict) and {"columns", "data"} <= table.keys():
        columns = list(table["columns"])
        _check_columns(path, columns, labels)
        records = ({c: value for c, value in zip(columns, values)} for values in table["data"])
    elif isinstance(table, dict) and "structure" in table and isinstance(table["structure"], dict):
        _check_columns(path, list(table), labels)
        records = ({c: table[c][key] for c in ["structure", *labels]} for key in table["structure"])
    else:
        raise ValueError(f"{path} is not a pandas JSON dataframe in the 'split' or 'columns' orientation.")
    prefix = info.name.replace("matbench", "mb").replace("_", "-")
    digits = math.floor(math.log10(info.n_rows)) + 1
    for i, record in enumerate(records):
        structure = Structure.from_dict(record["structure"])
        yield row(structure, f"{prefix}-{i + 1:0{digits}d}", {c: float(record[c]) for c in labels})


def _check_columns(path: Path, columns: list, labels: list[str]) -> None:
    missing = [c for c in ["structure", *labels] if c not in columns]
    if missing:
        raise ValueError(f"{path} has no column {missing}; its columns are {columns}.")


_PEROV5_LABELS = {"e_form": "heat_all", "dir_gap": "dir_gap", "ind_gap": "ind_gap"}


def perov5_rows(info: DatasetInfo, paths: list[Path]) -> Iterator[dict]:
    """CDVAE's Perov-5 CSV files (``material_id``, ``cif``, ``heat_all``, ``dir_gap``,
    ``ind_gap``), in the order given; ids are ``castelli-<material_id>``."""
    for path in paths:
        with path.open(newline="") as fh:
            for record in csv.DictReader(fh):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # CIF parsing notes (rounded occupancies)
                    structure = Structure.from_str(record["cif"], fmt="cif")
                labels = {ours: float(record[theirs]) for ours, theirs in _PEROV5_LABELS.items()}
                yield row(structure, f"castelli-{record['material_id']}", labels)


CONVERSIONS: dict[str, Callable[[DatasetInfo, list[Path]], Iterator[dict]]] = {
    "matbench": matbench_rows,
    "perov5": perov5_rows,
}
