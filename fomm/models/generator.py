"""Occlusion-aware generator: encodes the source, warps its features by the dense motion, masks
them by the occlusion map and decodes the driving frame (paper Sec. 3.4, Eq. 8)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, deform, resize
from .dense_motion import DenseMotionNetwork
from .keypoint_detector import Keypoints


@dataclass
class GeneratorOutput:
    prediction: torch.Tensor  # (B, C, H, W) in [0, 1]
    deformed: torch.Tensor | None = None  # source warped by the dense motion, for visualization
    mask: torch.Tensor | None = None
    sparse_deformed: torch.Tensor | None = None
    occlusion_map: torch.Tensor | None = None
    deformation: torch.Tensor | None = None


class EncoderDecoder(nn.Module):
    """FOMM's generator layers, which MRAA's generator has too: a 7x7 first block, down blocks, res
    blocks in the bottleneck, up blocks and a 7x7 final convolution, widths doubling per level up to
    ``max_features``. Built by :meth:`add_encoder_decoder` after the subclass's motion network, so the
    state dicts keep the published key order."""

    def add_encoder_decoder(self, num_channels: int, block_expansion: int, max_features: int,
                            num_down_blocks: int, num_bottleneck_blocks: int) -> None:
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)

        def width(level: int) -> int:
            return min(max_features, block_expansion * (2**level))

        self.down_blocks = nn.ModuleList(DownBlock2d(width(i), width(i + 1)) for i in range(num_down_blocks))
        self.up_blocks = nn.ModuleList(
            UpBlock2d(width(num_down_blocks - i), width(num_down_blocks - i - 1)) for i in range(num_down_blocks))
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(width(num_down_blocks)))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))


class OcclusionAwareGenerator(EncoderDecoder):
    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: dict | None = None, estimate_jacobian: bool = False,
                 align_corners: bool = True):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp, num_channels=num_channels, estimate_occlusion_map=estimate_occlusion_map,
                align_corners=align_corners, **dense_motion_params)
        else:
            self.dense_motion_network = None
        self.add_encoder_decoder(num_channels, block_expansion, max_features, num_down_blocks, num_bottleneck_blocks)
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        self.align_corners = align_corners

    def deform_input(self, inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        """Warp ``inp`` by the deformation, resized bilinearly to its size when they differ."""
        return deform(inp, deformation, self.align_corners)

    def encode_source(self, source_image: torch.Tensor) -> torch.Tensor:
        """The source's feature map; it depends on the source only, so animation computes it once."""
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, source_features: torch.Tensor, source_image: torch.Tensor, kp_driving: Keypoints,
               kp_source: Keypoints, visualize: bool = True) -> GeneratorOutput:
        """Generate the driving frame from precomputed source features.

        ``source_features``/``source_image`` may have batch 1 while the keypoints have batch B:
        they are broadcast, which is how one source drives a batch of frames.
        """
        bs = kp_driving.value.shape[0]
        if source_features.shape[0] != bs:
            source_features = source_features.expand(bs, *source_features.shape[1:])
            source_image = source_image.expand(bs, *source_image.shape[1:])
            kp_source = Keypoints(kp_source.value.expand(bs, *kp_source.value.shape[1:]),
                                  None if kp_source.jacobian is None
                                  else kp_source.jacobian.expand(bs, *kp_source.jacobian.shape[1:]))
        out = source_features
        result = GeneratorOutput(prediction=source_features)
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image, kp_driving, kp_source)
            out = self.deform_input(out, motion.deformation)
            occlusion_map = motion.occlusion_map
            if occlusion_map is not None:
                out = out * resize(occlusion_map, out.shape[2:])
            result.mask = motion.mask
            result.sparse_deformed = motion.sparse_deformed
            result.occlusion_map = motion.occlusion_map
            result.deformation = motion.deformation
            if visualize:
                result.deformed = self.deform_input(source_image, motion.deformation)
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        result.prediction = torch.sigmoid(self.final(out))
        return result

    def forward(self, source_image: torch.Tensor, kp_driving: Keypoints, kp_source: Keypoints) -> GeneratorOutput:
        return self.decode(self.encode_source(source_image), source_image, kp_driving, kp_source)
