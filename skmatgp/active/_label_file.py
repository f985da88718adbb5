"""Label files written by people: what a row of ``labels.csv`` means, and which rows are refused.

A person (or a spreadsheet, or a DFT workflow) types labels into a CSV file between the steps
of a campaign. Such a file has duplicates, corrections, decimal commas, byte-order marks, typos
and empty cells. Every row is either read by one of the rules below, with a warning naming the
file and the row when the rule changed or dropped something, or refused with a ValueError
naming the row; nothing is dropped silently.

- UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); another encoding is refused.
- Comma-separated; a file whose first line holds a semicolon (or a tab and no comma) is read
  with that separator (a spreadsheet saved in a decimal-comma locale). A first line
  ``sep=;`` (Excel's separator hint; any one character) sets the separator and is skipped. In such a file a value
  written with a decimal comma (``1,25``) is read as 1.25, with a warning naming the rows. In
  a comma-separated file a comma cannot be a decimal comma: a row with a cell too many, or a
  quoted ``"1,25"``, is refused.
- A first row with a cell ``id`` is a header. Its value column is the one column other than
  ``id`` and ``formula`` (``id,value``, ``id,band_gap``, or requests.csv with a column
  added); none or several are refused; a row repeating the header is skipped. Without a
  header every row is ``id,value``; a first row without an ``id`` cell whose value is not a
  number (``material_id,band_gap``) is refused as a header without an ``id`` column.
- A row with fewer cells than that, or more non-empty ones, is refused; so is a value without
  an id. Blank lines are skipped. An id with an empty value is not labelled yet (a warning
  names the rows); where another row gives that id a value, that value is kept (an empty cell
  never removes a label; a warning names both rows).
- A value is a finite number with a decimal point (``1.25``, ``-3e-2``); anything else
  (``n/a``, ``nan``, ``inf``, ``1.234,5``) is refused.
- Several rows for one id with the same value are one label. With different values, the last
  row wins (a correction appended at the end), with a warning naming the rows.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_SEPARATOR_HINT = re.compile(r"\s*sep=(.)\s*", re.IGNORECASE)  # Excel's first line, e.g. sep=;


@dataclass
class LabelRows:
    """What a label file says: the value of each id (its last row), where each came from,
    and notes on rows a rule changed or skipped (for a warning)."""

    path: Path
    values: dict[str, float] = field(default_factory=dict)
    row_of: dict[str, int] = field(default_factory=dict)  # the row each value was read from
    notes: list[str] = field(default_factory=list)

    def where(self, structure_id: str) -> str:
        return f"{self.path} row {self.row_of[structure_id]}"


def read_label_file(path) -> LabelRows:
    """Read a label file by the rules in this module's docstring; rows are counted from 1,
    the header being row 1. Raises ValueError naming the file and row for a refused row."""
    path = Path(path)
    result = LabelRows(path)
    if not path.is_file():
        return result
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path} row {row} is not UTF-8 text ({exc.reason} at byte {exc.start}); save the "
            "file as UTF-8 (in a spreadsheet: 'CSV UTF-8')."
        ) from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    hint = _SEPARATOR_HINT.fullmatch(first)
    if hint:
        delimiter = hint.group(1)
    else:
        delimiter = ";" if ";" in first else "\t" if "\t" in first and "," not in first else ","
    id_column, value_column, width = 0, 1, 2
    rows: dict[str, list[tuple[int, float]]] = {}
    empty, decimal_commas = [], []
    header_possible, header = True, None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for cells in reader:
        row = reader.line_num
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if hint:  # Excel's sep= line, already read
            hint = None
            continue
        if header_possible:  # the first non-blank row may be a header
            header_possible = False
            if "id" in (cell.lower() for cell in cells):
                id_column, value_column, width = _header(cells, path, row)
                header = [cell.lower() for cell in cells[:width]]
                continue
            if len(cells) > 1 and cells[1] and math.isnan(_number(cells[1], delimiter)[0]):
                raise ValueError(
                    f"{path} row {row} ({delimiter.join(cells)!r}) looks like a header without an "
                    "'id' column; name the id column 'id' (as in 'id,value'). If the row is a "
                    f"label, its value {cells[1]!r} is not a number."
                )
        if header and [cell.lower() for cell in cells[:width]] == header:
            continue  # the header again: two files put one after the other
        extra = [cell for cell in cells[width:] if cell]
        if len(cells) < width or extra:
            raise ValueError(
                f"{path} row {row}: expected {width} cells "
                f"({'id and value' if width == 2 else 'as many as the header'}), got "
                f"{len(cells)}: {cells!r}."
                + (
                    " A decimal comma? Write numbers with a decimal point (1.25)."
                    if delimiter == "," and extra
                    else ""
                )
            )
        structure_id, text_value = cells[id_column], cells[value_column]
        if not structure_id:
            raise ValueError(
                f"{path} row {row}: the value {text_value!r} has no id; add the id or remove the row."
            )
        if not text_value:
            empty.append((row, structure_id))
            continue
        value, decimal_comma = _number(text_value, delimiter)
        if decimal_comma:
            decimal_commas.append(row)
        if not math.isfinite(value):
            raise ValueError(
                f"{path} row {row}: the value {cells[value_column]!r} for id {structure_id!r} is not "
                "a finite number; write the label as a number with a decimal point (1.25), or "
                "remove the row until the label is known."
            )
        rows.setdefault(structure_id, []).append((row, value))
    for structure_id, found in rows.items():
        result.row_of[structure_id], result.values[structure_id] = found[-1]
        if len({value for _, value in found}) > 1:
            listed = ", ".join(f"row {r}: {v!r}" for r, v in found)
            result.notes.append(
                f"{path}: id {structure_id!r} has {len(found)} rows with different values "
                f"({listed}); the last row, {found[-1][0]}, is used (a later row corrects an "
                "earlier one). Remove the rows that are wrong to silence this warning."
            )
    pending = [row for row, structure_id in empty if structure_id not in result.values]
    if pending:
        result.notes.append(f"{path} row(s) {_rows(pending)}: an id without a value; not labelled yet.")
    kept = [(row, i) for row, i in empty if i in result.values]
    if kept:
        listed = ", ".join(
            f"row {row} ({i!r}: the value {result.values[i]!r} of row {result.row_of[i]} is kept)"
            for row, i in kept[:10]
        ) + (f" ... ({len(kept)} rows)" if len(kept) > 10 else "")
        result.notes.append(
            f"{path}: an empty value for an id another row labels; an empty cell does not remove "
            f"a label: {listed}. Remove the empty rows to silence this warning."
        )
    if decimal_commas:
        result.notes.append(
            f"{path} row(s) {_rows(decimal_commas)}: a decimal comma, read as a decimal point "
            "(the file is separated by semicolons or tabs)."
        )
    return result


def _number(text: str, delimiter: str) -> tuple[float, bool]:
    """A value cell read by the rules, NaN where it is no number, and whether it was written
    with a decimal comma (read as a point in files not separated by commas)."""
    decimal_comma = delimiter != "," and bool(_DECIMAL_COMMA.match(text))
    if decimal_comma:
        text = text.replace(",", ".")
    return (float(text) if _NUMBER.match(text) else math.nan), decimal_comma


def _header(cells: list[str], path: Path, row: int) -> tuple[int, int, int]:
    """The id column, the value column and the row width a header names."""
    names = [cell.lower() for cell in cells]
    values = [i for i, name in enumerate(names) if name and name not in ("id", "formula")]
    if len(values) != 1:
        raise ValueError(
            f"{path} row {row}: the header {cells!r} must name one value column beside 'id' "
            f"(and 'formula'), as in 'id,value'; it names {len(values)}."
        )
    width = max(i for i, name in enumerate(names) if name) + 1
    return names.index("id"), values[0], width


def _rows(rows: list[int], shown: int = 10) -> str:
    return ", ".join(map(str, rows[:shown])) + (f" ... ({len(rows)} rows)" if len(rows) > shown else "")
