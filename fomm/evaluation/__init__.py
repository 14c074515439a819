"""Evaluation: the paper's video reconstruction protocol and its metrics, and the part metrics (AKD /
MKR by color) on synthetic data."""

from .parts import (
           MeasuredParts,
           PartPositionError,
           measure_part_positions,
           measure_parts,
           part_masks,
           part_position_error,
)
from .reconstruct import ReconstructionResult, Scores, reconstruct

__all__ = ["MeasuredParts", "PartPositionError", "ReconstructionResult", "Scores", "measure_part_positions",
           "measure_parts", "part_masks", "part_position_error", "reconstruct"]
