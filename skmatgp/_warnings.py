"""Warnings that name the user's line, not a library frame between it and skmatgp."""

from __future__ import annotations

import sys
import warnings

# packages whose frames sit between a user's call and skmatgp's warning: scikit-learn wraps
# transform for set_output and runs pipelines, joblib runs jobs, modAL calls the strategies
_LIBRARIES = ("skmatgp", "sklearn", "joblib", "modAL")


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` at the first caller outside ``_LIBRARIES``: a fixed stacklevel points
    into scikit-learn's wrapper when transform is reached through it."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 is this function's caller
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _LIBRARIES:
        frame, level = frame.f_back, level + 1
    if frame is None:  # only library frames (a worker thread): name the caller, as before
        level = 2
    warnings.warn(message, category, stacklevel=level)
