"""Where labels come from: a Python callable, a known table (benchmarks), or a file a person fills in."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from .._atomic import write_text_atomic
from .._warnings import warn_user
from ._label_file import LabelRows, read_label_file


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

    When the campaign wants labels it writes ``requests.csv`` (header ``id,formula``, one id
    a line) into ``folder`` and returns ``None``: the campaign saves its state and stops with
    status ``"waiting"``. Add rows ``id,value`` to ``labels.csv`` in the same folder and run
    the campaign again: it resumes once every requested id has a value. ``requests.csv`` lists
    only the ids still without a label, and holds just its header once none is missing.

    How each row of ``labels.csv`` is read (duplicates, corrections, decimal commas, a
    byte-order mark, empty values, a header) is in the user guide, "Label files"; a row no rule
    reads is refused with a ValueError naming the file and the row, and a row a rule changed
    or skipped gives a warning naming them. A campaign calls :meth:`review` at the start of
    each run, so a value changed after the campaign read it is applied as a correction.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._read_cache = None

    @property
    def requests_path(self) -> Path:
        return self.folder / "requests.csv"

    @property
    def labels_path(self) -> Path:
        return self.folder / "labels.csv"

    def read_labels(self) -> dict[str, float]:
        """Each id's label in ``labels.csv`` (its last row), by the label-file rules."""
        return dict(self._read().values)

    def _read(self) -> LabelRows:
        """The label file, read once per version of it (size and modification time), so that
        one run warns once about each row a rule changed."""
        try:
            stat = self.labels_path.stat()
        except FileNotFoundError:
            return LabelRows(self.labels_path)
        key = (stat.st_mtime_ns, stat.st_size)
        if self._read_cache is None or self._read_cache[0] != key:
            rows = read_label_file(self.labels_path)
            for note in rows.notes:
                warn_user(note)
            self._read_cache = (key, rows)
        return self._read_cache[1]

    def review(self, answered: dict, requested, pool_ids) -> dict[str, tuple[float, str]]:
        """Compare ``labels.csv`` with what a campaign has: its labels read so far
        (``answered``, by id), the ids it waits for and its pool.

        Returns the corrections: ``{id: (value, where)}`` for each answered id whose value in
        the file now differs from the one the campaign read (``where`` names the file and
        row). Warns, naming the rows, about ids that are not in the pool (never used), pool ids
        not asked for yet (used if and when the campaign asks for them) and answered ids no
        longer in the file (the campaign keeps the values it read).
        """
        rows = self._read()
        pool, requested = set(pool_ids), set(requested)
        in_file = rows.values

        def named(ids):
            shown = ", ".join(f"{i!r} (row {rows.row_of[i]})" for i in ids[:10])
            return shown + (f" ... ({len(ids)} ids)" if len(ids) > 10 else "")

        unknown = [i for i in in_file if i not in pool]
        if unknown:
            warn_user(
                f"{rows.path}: {len(unknown)} id(s) are not in the campaign's pool and are not "
                f"used: {named(unknown)}. A typo? The pool's ids are its structures' ids (with "
                "--pool-folder, the CIF file names without .cif)."
            )
        ahead = [i for i in in_file if i in pool and i not in answered and i not in requested]
        if ahead:
            warn_user(
                f"{rows.path}: {len(ahead)} id(s) were not asked for (yet): {named(ahead)}. "
                "The campaign uses such a label only if and when it asks for that id."
            )
        gone = [i for i in answered if i not in in_file]
        if gone:
            warn_user(
                f"{len(gone)} label(s) the campaign read earlier are no longer in {rows.path} "
                f"(ids {gone[:10]}{' ...' if len(gone) > 10 else ''}); the campaign keeps the "
                "values it read."
            )
        return {
            i: (value, rows.where(i))
            for i, value in in_file.items()
            if i in answered and value != answered[i]
        }

    def __call__(self, ids, structures=None):
        known = self.read_labels()
        missing = {i for i in ids if i not in known}
        self._write_requests(ids, missing, structures)
        if missing:
            return None
        return np.array([known[i] for i in ids])

    def _write_requests(self, ids, missing, structures) -> None:
        """requests.csv: the ids still without a label (header only when none), in UTF-8 as
        label files are read, written atomically: a reader sees the old list or the new one."""
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["id", "formula"])
        for i, structure_id in enumerate(ids):
            if structure_id in missing:
                formula = structures[i].composition.reduced_formula if structures is not None else ""
                writer.writerow([structure_id, formula])
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.requests_path, text.getvalue(), encoding="utf-8")
