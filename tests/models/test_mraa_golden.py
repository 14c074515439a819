"""MRAA parity with the authors' implementation: every output in mraa-tiny-io.npz within 1e-4, and
every published config's keys and shapes from its preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from fomm.animation.normalize import convex_hull_area
from fomm.models.mraa import MRAA, Regions, parse_mraa_config, pca_affine
from fomm.models.mraa.normalize import relative_regions

ATOL = 1e-4
INPUTS = ("source", "driving")


@pytest.fixture(scope="module")
def io(golden):
    return {k: torch.from_numpy(v) for k, v in np.load(golden / "mraa-tiny-io.npz").items()}


@pytest.fixture(scope="module")
def model(golden) -> MRAA:
    config = parse_mraa_config(yaml.safe_load((golden / "mraa-tiny.yaml").read_text()))
    model = MRAA(config)
    checkpoint = torch.load(golden / "mraa-tiny.pth.tar", map_location="cpu", weights_only=True)
    for name, net in model.networks().items():
        net.load_state_dict(checkpoint[name], strict=True)
    return model.eval()


def _regions(out: dict, prefix: str, regions: Regions) -> None:
    for field in ("shift", "affine", "covar"):
        out[f"{prefix}_{field}"] = getattr(regions, field)


@pytest.fixture(scope="module")
def outputs(model, io) -> dict[str, torch.Tensor]:
    """Every fixture array recomputed by our networks, under the fixture's name."""
    source, driving = io["source"], io["driving"]
    out = {}
    with torch.no_grad():
        regions = {}
        for name, images in (("source", source), ("driving", driving)):
            regions[name] = model.region_predictor(images)
            _regions(out, f"rp_{name}", regions[name])
            out[f"rp_{name}_heatmap"] = model.region_predictor.heatmaps(images)
            u, sqrt_s = pca_affine(regions[name].covar)
            out[f"rp_{name}_u"], out[f"rp_{name}_d"] = u.reshape(-1, 2, 2), sqrt_s.reshape(-1, 2, 2)
        rs, rd = regions["source"], regions["driving"]
        # source[0] driven by each of the three frames, without and with background motion.
        bg_params = model.bg_predictor(source[[0, 0, 0]], driving)
        out["bg_params"] = bg_params
        for prefix, bg in (("", None), ("bg_", bg_params)):
            gen = model.generator(source[[0, 0, 0]], rd, rs[[0, 0, 0]], bg)
            out[f"{prefix}gen_prediction"], out[f"{prefix}gen_deformed"] = gen.prediction, gen.deformed
            out[f"{prefix}gen_occlusion_map"] = gen.occlusion_map
            out[f"{prefix}flow_optical_flow"], out[f"{prefix}flow_occlusion_map"] = gen.optical_flow, gen.occlusion_map
        # The demo: source[0], initial frame 0, generated from the source's cached features.
        src = rs[:1]
        scale = (convex_hull_area(src.shift[0]) / convex_hull_area(rd.shift[0])) ** 0.5
        animated = {"standard": rd, "relative": relative_regions(src, rd, rd[:1], scale),
                    "avd": model.avd_network(src, rd)}
        features = model.generator.encode_source(source[:1])
        for mode, motion in animated.items():
            for i in range(len(driving)):
                _regions(out, f"{mode}_frame{i}", motion[i:i + 1])
            out[f"demo_{mode}"] = model.generator.decode(features, source[:1], motion, src, visualize=False).prediction
    return out


def test_every_fixture_is_checked(io, outputs):
    assert sorted(set(io) - set(INPUTS)) == sorted(outputs)


@pytest.mark.parametrize("name", sorted(np.load(
    __import__("tests.conftest", fromlist=["golden_dir"]).golden_dir() / "mraa-tiny-io.npz").files))
def test_matches_golden(name, io, outputs):
    if name in INPUTS:
        pytest.skip("an input, not an output")
    torch.testing.assert_close(outputs[name].float(), io[name], atol=ATOL, rtol=0, msg=lambda m: f"{name}: {m}")
