"""MRAA's generator (paper Sec. 3.2): FOMM's occlusion-aware encoder-decoder in which, with
``skips``, the warped and occlusion-masked source features are blended in at every decoder scale
and the output is blended with the warped source image."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import blocks
from ..blocks import resize
from ..generator import EncoderDecoder
from .pixelwise_flow_predictor import PixelwiseFlowPredictor
from .regions import Regions


@dataclass
class GeneratorOutput:
    prediction: torch.Tensor  # (B, C, H, W) in [0, 1]
    deformed: torch.Tensor | None = None  # the source warped by the optical flow
    occlusion_map: torch.Tensor | None = None  # (B, 1, h, w) at the flow's resolution
    optical_flow: torch.Tensor | None = None  # (B, h, w, 2)
    mask: torch.Tensor | None = None
    sparse_deformed: torch.Tensor | None = None


def deform(inp: torch.Tensor, optical_flow: torch.Tensor) -> torch.Tensor:
    """Warp ``inp`` by the flow, resized to its size when they differ, with PyTorch's default
    ``align_corners=False``, as MRAA was trained."""
    return blocks.deform(inp, optical_flow, align_corners=False)


class Generator(EncoderDecoder):
    def __init__(self, num_channels: int, num_regions: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, pixelwise_flow_predictor_params: dict | None = None,
                 skips: bool = False, revert_axis_swap: bool = False):
        super().__init__()
        if pixelwise_flow_predictor_params is not None:
            self.pixelwise_flow_predictor = PixelwiseFlowPredictor(
                num_regions=num_regions, num_channels=num_channels, revert_axis_swap=revert_axis_swap,
                **pixelwise_flow_predictor_params)
        else:
            self.pixelwise_flow_predictor = None
        self.add_encoder_decoder(num_channels, block_expansion, max_features, num_down_blocks, num_bottleneck_blocks)
        self.skips = skips

    def encode_source(self, source_image: torch.Tensor) -> list[torch.Tensor]:
        """The source's feature maps at every encoder scale, finest first; they depend on the
        source only, so animation computes them once."""
        features = [self.first(source_image)]
        for block in self.down_blocks:
            features.append(block(features[-1]))
        return features

    def decode(self, features: list[torch.Tensor], source_image: torch.Tensor, driving: Regions,
               source: Regions, bg_params: torch.Tensor | None = None,
               visualize: bool = True) -> GeneratorOutput:
        """The driving frame from the source's features; features, image and source regions of batch
        1 are broadcast over the driving batch."""
        bs = driving.shift.shape[0]
        if features[0].shape[0] != bs:
            features = [f.expand(bs, *f.shape[1:]) for f in features]
            source_image = source_image.expand(bs, *source_image.shape[1:])
        source = source.expand(bs)
        if self.pixelwise_flow_predictor is None:
            out = self.bottleneck(features[-1])
            for block in self.up_blocks:
                out = block(out)
            return GeneratorOutput(torch.sigmoid(self.final(out)))
        motion = self.pixelwise_flow_predictor(source_image, driving, source, bg_params)
        flow, occlusion = motion.optical_flow, motion.occlusion_map
        warped = deform(features[-1], flow)
        out = warped if occlusion is None else warped * resize(occlusion, warped.shape[2:])
        out = self.bottleneck(out)
        skip_features = list(reversed(features[:-1]))
        for i in range(len(self.up_blocks) + 1):
            if self.skips and occlusion is not None:
                skip = warped if i == 0 else deform(skip_features[i - 1], flow)
                occ = resize(occlusion, out.shape[2:])
                out = out * (1 - occ) + skip * occ
            if i < len(self.up_blocks):
                out = self.up_blocks[i](out)
        prediction = torch.sigmoid(self.final(out))
        deformed = deform(source_image, flow) if (visualize or self.skips) else None
        if self.skips and occlusion is not None:
            occ = resize(occlusion, prediction.shape[2:])
            prediction = prediction * (1 - occ) + deformed.to(prediction.dtype) * occ
        return GeneratorOutput(prediction, deformed, occlusion, flow, motion.mask, motion.sparse_deformed)

    def forward(self, source_image: torch.Tensor, driving: Regions, source: Regions,
                bg_params: torch.Tensor | None = None) -> GeneratorOutput:
        return self.decode(self.encode_source(source_image), source_image, driving, source, bg_params)
