"""Where labels come from: a Python callable, a known table (benchmarks), or a file a person fills in."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


class TableOracle:
    """Labels already known (benchmarks and simulations): look them up by id."""

    def __init__(self, ids, labels):
        self.labels = dict(zip(map(str, ids), map(float, labels)))

    def __call__(self, ids, structures=None):
        unknown = [i for i in ids if i not in self.labels]
        if unknown:
            raise KeyError(f"No label for id(s) {unknown[:5]}; the table has {len(self.labels)} ids.")
        return np.array([self.labels[i] for i in ids])


class FileOracle:
    """Labels typed into a CSV file by a person (or a DFT workflow) between campaign steps.

    When the campaign wants labels it writes ``requests.csv`` (one id a line, with its
    formula) into ``folder`` and returns ``None``: the campaign saves its state and stops
    with status ``"waiting"``. Add rows ``id,value`` to ``labels.csv`` in the same folder and
    run the campaign again: it resumes once every requested id has a value.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    @property
    def requests_path(self) -> Path:
        return self.folder / "requests.csv"

    @property
    def labels_path(self) -> Path:
        return self.folder / "labels.csv"

    def read_labels(self) -> dict[str, float]:
        labels: dict[str, float] = {}
        if not self.labels_path.is_file():
            return labels
        with self.labels_path.open(newline="") as fh:
            for line_no, row in enumerate(csv.reader(fh), start=1):
                if not row or row[0].strip() in ("", "id"):
                    continue
                try:
                    labels[row[0].strip()] = float(row[1])
                except (IndexError, ValueError) as exc:
                    raise ValueError(
                        f"{self.labels_path} line {line_no}: expected 'id,value', got {row!r}."
                    ) from exc
        return labels

    def __call__(self, ids, structures=None):
        known = self.read_labels()
        missing = [i for i in ids if i not in known]
        if not missing:
            return np.array([known[i] for i in ids])
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.requests_path.with_suffix(".tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "formula"])
            for i, structure_id in enumerate(ids):
                if structure_id in missing:
                    formula = structures[i].composition.reduced_formula if structures is not None else ""
                    writer.writerow([structure_id, formula])
        os.replace(tmp, self.requests_path)
        return None
