"""An on-disk cache of pooled features, one small ``.npy`` file per structure and model.

One file per structure, not one archive per call: a cross-validation split, a grid search or a
pool that grows asks for other subsets in another order each time, and every subset finds its
rows; a write is a temporary file renamed into place (``os.replace`` is atomic on one file
system), so processes that share the folder (``GridSearchCV(n_jobs=2)``) never read half a
file and never contend for an index. The cost is a file per structure; at a few kB each,
10^5 structures take some hundreds of MB.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import orjson

from ._atomic import write_bytes_atomic

DECIMALS = 6  # Å for the lattice, fractions of a cell vector for the coordinates


CACHE_ENV = "SKMATGP_CACHE"


def resolve_cache_dir(cache_dir) -> Path | None:
    """None, the folder given, or for ``"auto"`` the folder in the environment variable
    ``SKMATGP_CACHE``, else ``~/.cache/skmatgp/feature_cache``. Not the data home: that may be
    a read-only shared folder of datasets."""
    if cache_dir is None:
        return None
    if isinstance(cache_dir, str) and cache_dir == "auto":
        if os.environ.get(CACHE_ENV):
            return Path(os.environ[CACHE_ENV]).expanduser()
        return Path.home() / ".cache" / "skmatgp" / "feature_cache"
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be None, 'auto' or a folder path, got {type(cache_dir).__name__}.")
    return Path(cache_dir).expanduser()


def structure_key(structure) -> str:
    """SHA-256 of a canonical JSON of what a potential sees: the lattice matrix, the periodic
    directions and the sites as (Z, fractional coordinates wrapped into [0, 1)), rounded to
    ``DECIMALS`` and sorted, so a copy with its sites in another order shares the key.

    Oxidation states, magnetic moments and other site properties are left out: the models
    read atomic numbers and positions only. The structure must be ordered."""
    lattice = np.round(structure.lattice.matrix, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    frac = np.round(np.mod(structure.frac_coords, 1.0), DECIMALS) % 1.0 + 0.0
    sites = sorted([site.specie.Z, *map(float, xyz)] for site, xyz in zip(structure, frac, strict=True))
    pbc = [bool(p) for p in getattr(structure.lattice, "pbc", (True, True, True))]
    text = orjson.dumps({"lattice": lattice.tolist(), "pbc": pbc, "sites": sites})
    return hashlib.sha256(text).hexdigest()


class FeatureCache:
    """Arrays of one shape under ``root/<model_id>/<key[:2]>/<key>.npy``.

    ``model_id`` names the model and its weights, so two models never share a file; the two
    hex digits of the shard keep folders small."""

    def __init__(self, root: Path, model_id: str, shape: tuple[int, ...]):
        self.folder = Path(root) / model_id
        self.shape = tuple(shape)
        self.writable = True

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The stored array, or None when there is none (or it is empty, damaged or not of the
        expected shape: a file from another version of the features is recomputed and replaced)."""
        try:
            array = np.load(self._path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):  # EOFError: an empty file (a write lost in a crash)
            return None
        return array if array.shape == self.shape else None

    def put(self, key: str, array: np.ndarray) -> None:
        """Store ``array``; a folder that cannot be written (read-only, full) is said once in a
        warning, and the features are then computed without the cache instead of failing."""
        if not self.writable:
            return
        path = self._path(key)
        data = io.BytesIO()
        np.save(data, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # not fsynced: a file a power cut loses is computed again, and one per structure
            # would cost a disk flush each
            write_bytes_atomic(path, data.getvalue(), durable=False)
        except OSError as exc:
            self.writable = False
            warnings.warn(
                f"Cannot write the feature cache in {self.folder} ({exc}); computing features "
                "without it. Pass cache_dir= a writable folder (or set SKMATGP_CACHE).",
                UserWarning,
                stacklevel=3,
            )
