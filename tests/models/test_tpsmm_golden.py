"""Parity with the authors' Thin-Plate-Spline-Motion-Model: every output in tpsmm-tiny-io.npz within 1e-4,
each stage fed the fixture's own inputs (its keypoints, its background motion), and the demo chained from
our own keypoints within the float32 reproducibility of a TPS chain (tests/tolerances.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm.animation.normalize import movement_scale
from fomm.checkpoints import load_state_dicts, read_checkpoint
from fomm.families import read_config
from fomm.families.tpsmm.model import TPSMM
from fomm.models.tps import KeypointTPS, RandomTPS
from tests.tolerances import assert_chain_close

ATOL = 1e-4


def tpsmm_golden(golden, name: str):
    path = golden / name
    if not path.exists():
        pytest.fail(f"golden fixture {path} is missing: put ../shared beside the repository or set FOMM_GOLDEN_DIR",
                    pytrace=False)
    return path


@pytest.fixture(scope="module")
def io(golden):
    return dict(np.load(tpsmm_golden(golden, "tpsmm-tiny-io.npz")))


@pytest.fixture(scope="module")
def model(golden) -> TPSMM:
    family, config = read_config(tpsmm_golden(golden, "tpsmm-tiny.yaml"))
    assert family.name == "tpsmm"
    model = TPSMM(config)
    load_state_dicts(model.networks(), read_checkpoint(tpsmm_golden(golden, "tpsmm-tiny.pth.tar")))
    return model.eval()


@pytest.fixture(scope="module")
def out(model, io):
    """Every output the fixture stores, computed by our networks from the fixture's inputs to that stage:
    the keypoints are detected, and everything after them starts from the fixture's keypoints, since
    the TPS fit amplifies the keypoints' last float32 bits a hundredfold (tests/tolerances.py)."""
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"])
    out = {}
    with torch.no_grad():
        detected = model.kp_detector(source)
        assert detected.jacobian is None
        out["kp_source"], out["kp_driving"] = detected.value, model.kp_detector(driving).value
        kp_source, kp_driving = type(detected)(torch.from_numpy(io["kp_source"])), \
            type(detected)(torch.from_numpy(io["kp_driving"]))
        # The fixture drives source 0 with each of the three driving frames, without and with the
        # background motion bg_predictor(source 0, driving).
        sources, kp_sources = source[[0, 0, 0]], kp_source[[0, 0, 0]]
        out["bg_param"] = model.bg_predictor(sources, driving)
        for prefix, bg_param in (("", None), ("bg_", torch.from_numpy(io["bg_param"]))):
            motion = model.dense_motion_network(sources, kp_driving, kp_sources, bg_param)
            out[f"{prefix}dm_deformation"] = motion.deformation
            out[f"{prefix}dm_contribution_maps"] = motion.contribution_maps
            out[f"{prefix}dm_deformed_source"] = motion.deformed_source
            for i, mask in enumerate(motion.occlusion_map):
                out[f"{prefix}dm_occlusion_map_{i}"] = mask
            generated = model.inpainting_network(sources, motion)
            out[f"{prefix}gen_prediction"], out[f"{prefix}gen_deformed"] = generated.prediction, generated.deformed
        scale = movement_scale(kp_source[[0]], kp_driving[[0]])  # the demo's relative mode: always hull-scaled
        for i in range(3):
            out[f"relative_frame{i}"] = (kp_driving.value[[i]] - kp_driving.value[[0]]) * scale + kp_source.value[[0]]
        out["avd"] = model.avd_network(kp_source[[0]], kp_driving).value
        frames = []
        features = model.inpainting_network.encode_source(source[[0]])
        for i in range(3):
            kp = type(kp_source)(out[f"relative_frame{i}"])
            motion = model.dense_motion_network(source[[0]], kp, kp_source[[0]])
            frames.append(model.inpainting_network.decode(features, source[[0]], motion).prediction)
        out["demo_relative"] = torch.cat(frames)
    tps = KeypointTPS(kp_driving.value[[0]].view(1, 3, 5, 2), kp_source.value[[0]].view(1, 3, 5, 2))
    out["tps_kp_grid"] = tps.grid(128, 128)
    random = RandomTPS(torch.from_numpy(io["tps_random_theta"]), torch.from_numpy(io["tps_random_control_params"]))
    out["tps_random_warped"] = random.warp_coordinates(torch.from_numpy(io["tps_random_coords"]))
    out["tps_random_grid"] = random.grid(128, 128)
    return out


INPUTS = {"source", "driving", "tps_random_theta", "tps_random_control_params", "tps_random_coords"}


def test_every_fixture_output_is_checked(out, io):
    expected = set(io) - INPUTS
    assert expected == set(out), f"unchecked: {expected - set(out)}, unknown: {set(out) - expected}"


@pytest.mark.parametrize("group", ["kp_", "bg_param", "dm_", "gen_", "bg_dm_", "bg_gen_", "relative_", "avd",
                                   "demo_", "tps_"])
def test_outputs_match_original(out, io, group):
    names = sorted(n for n in out if n.startswith(group))
    assert names
    for name in names:
        torch.testing.assert_close(out[name].detach().float(), torch.from_numpy(io[name]), atol=ATOL, rtol=0,
                                   msg=lambda m, name=name: f"{name}: {m}")


def test_the_tps_solve_stays_float32_under_autocast(io):
    """Eq. 2's linear solve and the warps run in float32 under bf16 autocast (sampling coordinates)."""
    kp = torch.from_numpy(io["kp_driving"][:1]).view(1, 3, 5, 2)
    target = torch.from_numpy(io["kp_source"][:1]).view(1, 3, 5, 2)
    exact = KeypointTPS(kp, target).grid(32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reduced = KeypointTPS(kp, target).grid(32, 32)
    assert reduced.dtype == torch.float32
    torch.testing.assert_close(reduced, exact, atol=1e-6, rtol=0)


def test_the_demo_chained_from_our_own_keypoints(model, io):
    """The demo's relative mode end to end, every stage on our own outputs (keypoints detected here, in
    the fixture's batch of two): within the float32 reproducibility of a TPS chain of the fixture."""
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"])
    with torch.no_grad():
        kp_source, kp_driving = model.kp_detector(source)[[0]], model.kp_detector(driving)
        scale = movement_scale(kp_source, kp_driving[[0]])
        features = model.inpainting_network.encode_source(source[[0]])
        frames = []
        for i in range(3):
            kp = type(kp_source)((kp_driving.value[[i]] - kp_driving.value[[0]]) * scale + kp_source.value)
            motion = model.dense_motion_network(source[[0]], kp, kp_source)
            frames.append(model.inpainting_network.decode(features, source[[0]], motion).prediction)
    assert_chain_close(torch.cat(frames), io["demo_relative"], "demo_relative")
