"""MRAA: Motion Representations for Articulated Animation (Siarohin et al., CVPR 2021), written from
the paper and checked against numbers computed by the authors' code (its code carries no licence,
so none of it is used here)."""

from .avd_network import AVDNetwork
from .bg_motion_predictor import BGMotionPredictor
from .config import MRAAConfig, parse_mraa_config
from .generator import Generator, GeneratorOutput
from .model import MRAA
from .pixelwise_flow_predictor import FlowOutput, PixelwiseFlowPredictor
from .region_predictor import RegionPredictor
from .regions import Regions, pca_affine, regions_from_heatmap

__all__ = ["AVDNetwork", "BGMotionPredictor", "FlowOutput", "Generator", "GeneratorOutput", "MRAA",
           "MRAAConfig", "PixelwiseFlowPredictor", "RegionPredictor", "Regions", "parse_mraa_config",
           "pca_affine", "regions_from_heatmap"]
