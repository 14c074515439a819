"""The four networks of the First Order Motion Model, as pure ``nn.Module``s."""

from .blocks import ImagePyramid, float32_math, inverse_2x2, kp2gaussian, make_coordinate_grid
from .dense_motion import DenseMotion, DenseMotionNetwork
from .discriminator import Discriminator, DiscriminatorOutput, MultiScaleDiscriminator
from .generator import GeneratorOutput, OcclusionAwareGenerator
from .keypoint_detector import Keypoints, KPDetector

__all__ = [
    "DenseMotion", "DenseMotionNetwork", "Discriminator", "DiscriminatorOutput", "GeneratorOutput",
    "ImagePyramid", "KPDetector", "Keypoints", "MultiScaleDiscriminator", "OcclusionAwareGenerator",
    "float32_math", "inverse_2x2", "kp2gaussian", "make_coordinate_grid",
]
