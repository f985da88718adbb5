"""A campaign's saved state: ``state.json`` in its folder, read, checked and written.

The state is small JSON: the settings (``config``, with digests of the pool's ids, the test
set and the pool's targets), the labelled ids in batches, their labels, the pending query,
the refit points, one history record per step and the status. It is written atomically
after every step, so a crash at any moment leaves the old file or the new one. Reading it
refuses, naming the file, what is wrong and what to do, a damaged file or a state written
with other settings; a lock on the folder keeps one writer at a time (see ``_lock.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np

from .._atomic import write_text_atomic
from ._lock import FolderLock

STATE_NAME = "state.json"

_DIGESTS = {
    "pool_ids_sha256": "the pool's ids differ (structures added, removed or renamed?)",
    "test_sha256": "the test set differs",
    "pool_targets_sha256": "pool_targets differ",
}

_STATE_KINDS = {
    "config": dict,
    "batches": list,
    "labels": dict,
    "refits": list,
    "history": list,
    "status": str,
}


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON so that a crash at any moment leaves either the old or the new file."""
    write_text_atomic(path, json.dumps(obj))


def digest(obj) -> str:
    """sha256 of ``obj`` as JSON."""
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()


def data_digests(pool_ids: list[str], test_formulas: list[str] | None, test_targets, pool_targets) -> dict:
    """The digests a state's settings hold of the data: the pool's ids, the test set (its
    formulas and targets; None without one) and the pool's targets (None without them)."""
    test = None if test_formulas is None else list(test_formulas) + [float(v) for v in test_targets]
    return {
        "pool_ids_sha256": hashlib.sha256("\n".join(pool_ids).encode()).hexdigest(),
        "test_sha256": digest(test),
        "pool_targets_sha256": digest(None if pool_targets is None else np.asarray(pool_targets).tolist()),
    }


def _differences(saved: dict, current: dict) -> str:
    """The settings that differ between a saved state's config and this campaign's, in words."""
    keys = sorted(set(saved) | set(current), key=lambda k: (k not in _DIGESTS, k))
    named = [
        _DIGESTS[key]
        if key in _DIGESTS
        else f"{key} {saved.get(key)!r} in the state, {current.get(key)!r} now"
        for key in keys
        if saved.get(key) != current.get(key)
    ]
    return "; ".join(named)


def _shape_problem(state) -> str | None:
    """What makes ``state`` (parsed JSON) no campaign state at all, or None."""
    if not isinstance(state, dict):
        return f"it holds a JSON {type(state).__name__}, not a campaign's state"
    missing = [key for key in [*_STATE_KINDS, "pending"] if key not in state]
    if missing:
        return f"it lacks {missing}; it is not a campaign's state.json"
    wrong = [key for key, kind in _STATE_KINDS.items() if not isinstance(state[key], kind)]
    if wrong:
        return f"{wrong} have the wrong type"
    if state["status"] not in ("running", "waiting", "done"):
        return f"status {state['status']!r} is none of running, waiting, done"
    if not all(
        isinstance(batch, list) and all(isinstance(i, str) for i in batch) for batch in state["batches"]
    ):
        return "'batches' must be lists of ids"
    return None


def _consistency_problem(state: dict, pool_ids: set[str]) -> str | None:
    """What makes a well-formed ``state`` over a pool of ``pool_ids`` inconsistent, or None."""
    batches = state["batches"]
    ids = [i for batch in batches for i in batch]
    if len(set(ids)) != len(ids):
        return "an id appears in two batches"
    outside = [i for i in ids if i not in pool_ids]
    if outside:
        return f"ids {outside[:5]} of its batches are not in the pool"
    labels = state["labels"]
    unlabelled = [i for i in ids if not isinstance(labels.get(i), (int, float)) or not np.isfinite(labels[i])]
    if unlabelled:
        return f"ids {unlabelled[:5]} of its batches have no finite label"
    refits = state["refits"]
    if not all(isinstance(n, int) and 0 < n <= len(ids) for n in refits) or refits != sorted(refits):
        return f"its refit points {refits[:5]} do not fit its {len(ids)} labels"
    if ids and not refits:
        return "it has labels but no refit point"
    pending = state["pending"]
    if pending is not None and not (
        isinstance(pending, dict)
        and isinstance(pending.get("ids"), list)
        and all(i in pool_ids for i in pending["ids"])
    ):
        return "its pending query is not a list of pool ids"
    return None


class CampaignState:
    """``state.json`` of one campaign in ``folder`` (None: the state lives in memory only).

    Parameters
    ----------
    folder : path or None
        The campaign's state folder; created on the first save.
    config : dict
        The campaign's settings, JSON. A saved state with other settings is refused.
    pool_ids : sequence of str
        The pool's ids: a saved state's batches and pending query must name only these.
    """

    def __init__(self, folder, config: dict, pool_ids):
        self.folder = None if folder is None else Path(folder)
        self.config = config
        self.pool_ids = set(pool_ids)

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / STATE_NAME

    def one_writer(self):
        """A lock on the folder for the whole of a run or refit (see FolderLock)."""
        return contextlib.nullcontext() if self.folder is None else FolderLock(self.folder)

    def load(self) -> dict:
        """The saved state, checked; a fresh one where none was saved."""
        if self.folder is not None and self.path.is_file():
            return self._read()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        return {
            "config": self.config,
            "batches": [],
            "labels": {},
            "pending": None,
            "refits": [],
            "history": [],
            "status": "running",
        }

    def save(self, state: dict) -> None:
        if self.folder is not None:
            write_json_atomic(self.path, state)

    def _read(self) -> dict:
        """state.json, checked to be a campaign's state with these settings over this pool,
        or a ValueError that names the file, what is wrong with it and what to do."""
        path = self.path
        what_to_do = (
            f"state.json is written atomically, so a damaged one comes from outside the campaign "
            f"(a full disk, a copy cut short, an edit). Restore it from a backup, or move "
            f"{self.folder} away and run again to start over (labels typed into a FileOracle's "
            "labels.csv are read again, so none is lost)."
        )
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"The campaign state {path} cannot be read ({exc}). {what_to_do}") from None
        if not text.strip():
            raise ValueError(f"The campaign state {path} is empty (corrupted state). {what_to_do}")
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = text.lstrip().startswith("{") and not text.rstrip().endswith("}")
            truncated = " it looks truncated (it ends before its last '}')," if cut else ""
            raise ValueError(
                f"The campaign state {path} is not valid JSON ({exc.msg} at line {exc.lineno} "
                f"column {exc.colno});{truncated} corrupted state. {what_to_do}"
            ) from None
        problem = _shape_problem(state)
        if problem:
            raise ValueError(f"The campaign state {path} is corrupted: {problem}. {what_to_do}")
        saved, current = state["config"], json.loads(json.dumps(self.config))
        if saved != current:
            hint = ""
            if "representation" not in saved and "representation" in current:
                hint = (
                    " It was written by a graph campaign (the default before skmatgp chose "
                    "representation='foundation'): pass representation='graph' "
                    "(skmatgp campaign --representation graph) to resume it."
                )
            raise ValueError(
                f"{path} belongs to a campaign with other settings ({_differences(saved, current)}); "
                "use another state_dir or the same arguments as the campaign that wrote it."
                f"{hint}"
            )
        problem = _consistency_problem(state, self.pool_ids)
        if problem:
            raise ValueError(f"The campaign state {path} is corrupted: {problem}. {what_to_do}")
        return state
