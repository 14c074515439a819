"""Evaluation: the paper's video reconstruction protocol and its metrics."""

from .reconstruct import ReconstructionResult, Scores, reconstruct

__all__ = ["ReconstructionResult", "Scores", "reconstruct"]
