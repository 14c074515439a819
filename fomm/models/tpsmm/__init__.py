"""The networks of the Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022), as pure ``nn.Module``s.
Attribute names are the published checkpoints' keys (``fg_encoder``, ``hourglass``, ``maps``, ...)."""

from .avd import AVDNetwork
from .bg_motion import BGMotionPredictor
from .dense_motion import TPSDenseMotion, TPSDenseMotionNetwork
from .inpainting import InpaintingNetwork, InpaintingOutput
from .keypoint_detector import POINTS_PER_TPS, TPSKeypointDetector

__all__ = ["AVDNetwork", "BGMotionPredictor", "InpaintingNetwork", "InpaintingOutput", "POINTS_PER_TPS",
           "TPSDenseMotion", "TPSDenseMotionNetwork", "TPSKeypointDetector"]
