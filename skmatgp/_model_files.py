"""Model files: :func:`save` and :func:`load`, without pickle.

A model file is a ``torch.save`` zip of plain data: strings, numbers, lists, dicts and tensors,
read back with ``torch.load(weights_only=True)``, so loading never runs code from the file.
Every model in it is a dict with two keys apart from its contents: ``"format"``, the kind of
model ("skmatgp.GPRegressor", "skmatgp.Pipeline", ...), and ``"version"``, the schema of that
kind, raised when what a kind stores changes. :func:`load` dispatches on the kind and lets each
reader refuse versions newer than it knows. A Pipeline or a LogTargetRegressor holds its steps
or its regressor as models of their own kinds, so one reader per kind covers every nesting.

Besides the regressors' own files (``GPRegressor.save``, ``GNNGPRegressor.save``), this module
writes the fitted pipelines skmatgp builds: ``FoundationFeaturizer`` or
``CrystalGraphTransformer`` steps (their parameters: they learn nothing), a GP regressor last,
optionally inside a :class:`~skmatgp.LogTargetRegressor`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

PIPELINE = "skmatgp.Pipeline"
LOG_TARGET = "skmatgp.LogTargetRegressor"
FOUNDATION = "skmatgp.FoundationFeaturizer"
GRAPHS = "skmatgp.CrystalGraphTransformer"
GP = "skmatgp.GPRegressor"
GNNGP = "skmatgp.GNNGPRegressor"
VERSIONS = {PIPELINE: 1, LOG_TARGET: 1, FOUNDATION: 1, GRAPHS: 1}  # the kinds this module writes
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
_PICKLE_MAGIC = b"\x80"  # pickle protocol 2 and later (pickle, joblib without compression)


class ModelFileError(ValueError):
    """A file that is not a model skmatgp can read; the message names the path and why."""


# ---------------------------------------------------------------- writing


def save(model, path) -> None:
    """Write a fitted model to ``path`` as one file that :func:`skmatgp.load` reads back
    without unpickling anything.

    Parameters
    ----------
    model : estimator
        A fitted ``GPRegressor`` or ``GNNGPRegressor`` (the same file as their ``save``), a
        ``LogTargetRegressor`` around one of them or around a Pipeline, or a Pipeline of
        ``FoundationFeaturizer`` / ``CrystalGraphTransformer`` steps ending in one of these,
        e.g. ``Pipeline([("features", FoundationFeaturizer()), ("gp", GPRegressor())])``.
        Featurizers are stored as their parameters (they learn nothing) and, for
        ``FoundationFeaturizer``, the id of the weights that made the features.
    path : str or path
        Written through a temporary file beside it, renamed into place when complete: an
        interrupted save never leaves a truncated model at ``path``.
    """
    from ._atomic import torch_save_atomic

    torch_save_atomic(_node(model, "model"), path)


def _node(estimator, where: str) -> dict:
    """The payload of one estimator; ``where`` names it in an error (a step's name)."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    kind = type(estimator).__name__
    if isinstance(estimator, Pipeline):
        steps = [{"name": name, "model": _node(step, f"step {name!r}")} for name, step in estimator.steps]
        return {"format": PIPELINE, "version": VERSIONS[PIPELINE], "steps": steps}
    if kind == "LogTargetRegressor":
        check_is_fitted(estimator, "regressor_")
        regressor = _node(estimator.regressor_, f"{where}'s regressor")
        return {"format": LOG_TARGET, "version": VERSIONS[LOG_TARGET], "regressor": regressor}
    if kind == "FoundationFeaturizer":
        from ._foundation import model_id

        return {
            "format": FOUNDATION,
            "version": VERSIONS[FOUNDATION],
            "params": _json_params(estimator, where),
            "model_id": getattr(estimator, "model_id_", None) or model_id(estimator.model),
        }
    if kind == "CrystalGraphTransformer":
        return {"format": GRAPHS, "version": VERSIONS[GRAPHS], "params": _json_params(estimator, where)}
    if kind in ("GPRegressor", "GNNGPRegressor"):
        import torch

        buffer = io.BytesIO()
        estimator.save(buffer)  # their own format, kept whole
        buffer.seek(0)
        return torch.load(buffer, map_location="cpu", weights_only=True)
    raise TypeError(
        f"skmatgp.save writes GPRegressor, GNNGPRegressor, LogTargetRegressor, FoundationFeaturizer, "
        f"CrystalGraphTransformer and Pipelines of them; {where} is a {kind}. Save such a model "
        "with joblib.dump (and load only files you trust)."
    )


def _json_params(estimator, where: str) -> str:
    def plain(value):
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if hasattr(value, "item"):  # a numpy number
            return value.item()
        raise TypeError(
            f"{where} ({type(estimator).__name__}) has a parameter that a model file cannot hold: {value!r}."
        )

    return json.dumps(estimator.get_params(deep=False), default=plain)


# ---------------------------------------------------------------- reading


def load(path, device: str = "cpu"):
    """Load a model written by :func:`skmatgp.save`, ``GPRegressor.save`` or
    ``GNNGPRegressor.save``, without unpickling anything.

    Parameters
    ----------
    path : str or path
    device : str, default="cpu"
        Where the model runs (the GP and any FoundationFeaturizer); "auto" picks CUDA when
        available.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is empty, truncated or corrupted, not a model file (a pickle, a CSV, ...),
        or written by a newer skmatgp (a kind, version, entry or parameter this one does not
        know); the message names the path and which.
    """
    payload = read_payload(path)
    try:
        return _build(payload, path, device)
    except ModelFileError:
        raise
    except KeyError as exc:
        raise ModelFileError(f"{path} is damaged: its model lacks the entry {exc}.") from None
    except (TypeError, ValueError) as exc:
        # an entry of another type or a parameter this version's classes do not take: a readable
        # file whose model cannot be built here. A reader's own error already names the path.
        if str(path) in str(exc):
            raise
        raise ModelFileError(
            f"{path} holds a model this skmatgp cannot build ({type(exc).__name__}: {_first_line(exc)}): "
            "written by a newer skmatgp? Upgrade skmatgp, or save the model again."
        ) from None


def read_payload(path) -> dict:
    """The checked top-level dict of a model file, before any model is built."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except FileNotFoundError:
        raise FileNotFoundError(f"No model file at {path}.") from None
    if not head:
        raise ModelFileError(
            f"{path} is empty (0 bytes), not a model: an interrupted write? Save the model again."
        )
    if head.startswith(_PICKLE_MAGIC):
        raise ModelFileError(
            f"{path} is a pickle (pickle or joblib), not a skmatgp model file; skmatgp.load never "
            "unpickles, as unpickling can run code. Load it with joblib.load only if you trust it."
        )
    if not head.startswith(_ZIP_MAGIC):
        raise ModelFileError(f"{path} is not a skmatgp model file ({_describe(head)}).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(
            f"{path} is truncated or corrupted ({_first_line(exc)}); save the model again."
        ) from None
    except Exception as exc:  # noqa: BLE001 (the restricted unpickler refuses in many ways)
        raise ModelFileError(
            f"{path} is not a skmatgp model file: it holds Python objects that only unpickling "
            f"could rebuild ({type(exc).__name__})."
        ) from None
    _check_kind(payload, path)
    return payload


def _check_kind(payload, path) -> None:
    if not isinstance(payload, dict) or not isinstance(payload.get("format"), str):
        raise ModelFileError(
            f"{path} is not a skmatgp model file: a torch file without skmatgp's 'format' entry."
        )
    kind = payload["format"]
    if kind not in _READERS:
        if kind.startswith("skmatgp."):
            raise ModelFileError(
                f"{path} holds a {kind}, a kind of model this skmatgp does not know: written by a "
                "newer skmatgp? Upgrade skmatgp."
            )
        raise ModelFileError(f"{path} is not a model saved by skmatgp (its format is {kind!r}).")
    version = payload.get("version")
    if not isinstance(version, int):
        raise ModelFileError(f"{path} is damaged: its {kind} has no schema version.")
    if kind in VERSIONS and version > VERSIONS[kind]:
        raise ModelFileError(
            f"{path} was written by a newer skmatgp ({kind} version {version}; this one reads up to "
            f"{VERSIONS[kind]}); upgrade skmatgp."
        )


def _build(payload: dict, path, device):
    _check_kind(payload, path)
    return _READERS[payload["format"]](payload, path, device)


def _read_pipeline(payload, path, device):
    from sklearn.pipeline import Pipeline

    return Pipeline([(step["name"], _build(step["model"], path, device)) for step in payload["steps"]])


def _read_log_target(payload, path, device):
    from ._log_target import fitted_log_target

    return fitted_log_target(_build(payload["regressor"], path, device))


def _read_foundation(payload, path, device):
    from ._foundation import FoundationFeaturizer, model_id

    featurizer = FoundationFeaturizer(**{**json.loads(payload["params"]), "device": device})
    installed = model_id(featurizer.model)
    if payload["model_id"] != installed:
        raise ModelFileError(
            f"{path} was fitted on features of {payload['model_id']}, but this installation computes "
            f"{installed} (other weights or another features version): its GP would read features it "
            "was not fitted on. Fit the model again here."
        )
    featurizer.model_id_ = installed
    featurizer.n_features_out_ = len(featurizer.get_feature_names_out())
    return featurizer


def _read_graphs(payload, path, device):
    from ._graphs import CrystalGraphTransformer

    return CrystalGraphTransformer(**json.loads(payload["params"]))


def _read_gp(payload, path, device):
    from ._gp_regressor import load_gp_regressor

    return load_gp_regressor(payload, path, device)


def _read_gnngp(payload, path, device):
    from ._regressor import load_gnngp_regressor

    return load_gnngp_regressor(payload, path, device)


_READERS = {
    PIPELINE: _read_pipeline,
    LOG_TARGET: _read_log_target,
    FOUNDATION: _read_foundation,
    GRAPHS: _read_graphs,
    GP: _read_gp,
    GNNGP: _read_gnngp,
}


def _describe(head: bytes) -> str:
    """What the first bytes of a file look like, for an error."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {head[:8]!r}"
    first = text.splitlines()[0] if text.strip() else text
    return f"a text file starting {first[:40]!r}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
