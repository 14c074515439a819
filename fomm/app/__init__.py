"""``fomm app``: animate in the browser. :mod:`fomm.app.jobs` holds what a job does (no web code);
:mod:`fomm.app.ui` builds the gradio page on it (import it only where gradio, ``fomm[app]``, is wanted).
"""

from .jobs import (
    DEFAULT_LABEL,
    AnimationJob,
    AppError,
    JobOptions,
    JobProgress,
    JobResult,
    ModelCache,
    ModelChoice,
    WorkFolder,
    checkpoint_choices,
    model_choice,
)

__all__ = [
    "DEFAULT_LABEL", "AnimationJob", "AppError", "JobOptions", "JobProgress", "JobResult", "ModelCache", "ModelChoice",
    "WorkFolder", "checkpoint_choices", "model_choice",
]
