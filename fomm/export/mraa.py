"""Export an MRAA model to ONNX, and run the export with onnxruntime.

The graphs are what streaming animation runs:

- ``keypoints.onnx``: image (B, 3, S, S) -> the regions' ``shift`` (B, K, 2), ``affine`` and ``covar``
  (B, K, 2, 2);
- ``source.onnx``: source (B, 3, S, S) -> the generator's encoder maps ``source_features_<i>`` (every
  scale: the skips read them);
- ``decode.onnx``: the cached maps and source (batch 1 or B), the driving and source regions ->
  prediction (B, 3, S, S);
- ``avd.onnx`` (when the checkpoint has an AVD network): source and driving regions -> regions.

ONNX has no SVD: the region graph computes the PCA of each heatmap in closed form
(:func:`fomm.models.mraa.regions.pca_affine_closed_form`), which has LAPACK's signs except on the rule's
boundary (about 1 covariance in 200,000). Relative and absolute animation do not depend on the sign
(the flow's half-turn rule); AVD reads it. The background predictor is not exported (animation does
not use it; reconstruction runs in PyTorch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..families.mraa.backend import MRAAMotion
from ..models.mraa import MRAA, Regions, parse_mraa_config
from ..models.mraa.config import validate_mraa_frame_size
from .onnx import FAMILY_FORMAT_VERSION, OPSET, prepare_export, write_family_export
from .runtime import SessionBackend

FORMAT_VERSION = FAMILY_FORMAT_VERSION
FIELDS = ("shift", "affine", "covar")


def _names(prefix: str) -> list[str]:
    return [f"{prefix}_{field}" for field in FIELDS]


class _Regions(nn.Module):
    def __init__(self, model: MRAA):
        super().__init__()
        self.region_predictor = model.region_predictor

    def forward(self, image):
        regions = self.region_predictor(image)
        return regions.shift, regions.affine, regions.covar


class _Source(nn.Module):
    def __init__(self, model: MRAA):
        super().__init__()
        self.generator = model.generator

    def forward(self, source):
        return tuple(self.generator.encode_source(source))


class _Decode(nn.Module):
    """The generator's decode; the source side (batch 1 or B) is broadcast to the driving batch here, so
    that the batch stays a dimension of the graph."""

    def __init__(self, model: MRAA):
        super().__init__()
        self.generator = model.generator

    def forward(self, source, driving_shift, driving_affine, driving_covar, source_shift, source_affine,
                source_covar, *source_features):
        batch = driving_shift.shape[0]
        features = [f.expand(batch, -1, -1, -1) for f in source_features]
        source_regions = Regions(source_shift.expand(batch, -1, -1), source_affine.expand(batch, -1, -1, -1),
                                 source_covar.expand(batch, -1, -1, -1))
        return self.generator.decode(features, source.expand(batch, -1, -1, -1),
                                     Regions(driving_shift, driving_affine, driving_covar), source_regions,
                                     visualize=False).prediction


class _AVD(nn.Module):
    def __init__(self, model: MRAA):
        super().__init__()
        self.avd_network = model.avd_network

    def forward(self, source_shift, source_affine, driving_shift, driving_affine):
        batch = driving_shift.shape[0]
        identity = Regions(source_shift.expand(batch, -1, -1), source_affine.expand(batch, -1, -1, -1),
                           source_affine.expand(batch, -1, -1, -1))
        regions = self.avd_network(identity, Regions(driving_shift, driving_affine, driving_affine))
        return regions.shift, regions.affine, regions.covar


def export_mraa_onnx(model: MRAA, out_dir: str | Path, *, size: int | None = None, opset: int = OPSET,
                     overwrite: bool = False) -> Path:
    """Write the graphs and ``fomm-onnx.json`` to ``out_dir`` (see the module docstring), atomically."""
    out, size, net = prepare_export(model, out_dir, size=size, opset=opset, overwrite=overwrite,
                                    check_size=validate_mraa_frame_size, needs="the flow predictor")
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        regions = net.region_predictor(images)
        features = net.generator.encode_source(images[:1])
    feature_names = [f"source_features_{i}" for i in range(len(features))]
    driving, source = _names("driving"), _names("source")
    source_regions = regions[:1]
    region_args = (regions.shift, regions.affine, regions.covar)
    graphs = {
        "keypoints": (_Regions(net), (images,), ["image"], ["shift", "affine", "covar"]),
        "source": (_Source(net), (images[:1],), ["source"], feature_names),
        "decode": (_Decode(net), (images[:1], *region_args, source_regions.shift, source_regions.affine,
                                  source_regions.covar, *features),
                   ["source", *driving, *source, *feature_names], ["prediction"]),
    }
    if net.avd_network is not None:
        graphs["avd"] = (_AVD(net), (source_regions.shift, source_regions.affine, regions.shift, regions.affine),
                         ["source_shift", "source_affine", "driving_shift", "driving_affine"],
                         ["shift", "affine", "covar"])
    every_name_batched = {name: (*g, [*g[2], *g[3]]) for name, g in graphs.items()}
    return write_family_export(out, "mraa", model.config, model.config.model_params.num_channels, size,
                               int(regions.shift.shape[1]), every_name_batched, opset)


class MRAAOnnxBackend(MRAAMotion, SessionBackend):
    """An MRAA export in onnxruntime sessions (float32); implements :class:`fomm.animation.Backend`."""

    def __init__(self, folder: str | Path, metadata: dict, sessions: dict):
        self.open(folder, metadata, sessions, parse_mraa_config)

    def _inputs(self, prefix: str, regions: Regions, fields=FIELDS) -> dict[str, np.ndarray]:
        return {f"{prefix}_{field}": self._array(getattr(regions, field)) for field in fields}

    def keypoints(self, images: torch.Tensor) -> Regions:
        return Regions(*(torch.from_numpy(a) for a in self._run("keypoints", image=self._array(images))))

    def encode_source(self, source: torch.Tensor) -> list[np.ndarray]:
        return self._run("source", source=self._array(source))

    def avd(self, kp_source: Regions, kp_driving: Regions) -> Regions:
        inputs = {**self._inputs("source", kp_source, ("shift", "affine")),
                  **self._inputs("driving", kp_driving, ("shift", "affine"))}
        return Regions(*(torch.from_numpy(a) for a in self._run("avd", **inputs)))

    def decode(self, features: list[np.ndarray], source: torch.Tensor, kp_driving: Regions,
               kp_source: Regions) -> torch.Tensor:
        inputs = {"source": self._array(source), **self._inputs("driving", kp_driving),
                  **self._inputs("source", kp_source)}
        inputs.update({f"source_features_{i}": f for i, f in enumerate(features)})
        return torch.from_numpy(self._run("decode", **inputs)[0])
