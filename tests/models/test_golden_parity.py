"""Parity with the authors' implementation: every output in tiny-io.npz within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fomm.animation.normalize import normalize_kp
from fomm.checkpoints import load_state_dicts, read_checkpoint
from fomm.config import load_config
from fomm.model import FOMM
from fomm.models import ImagePyramid
from fomm.training.transforms import Transform

ATOL = 1e-4


@pytest.fixture(scope="module")
def io(golden):
    return dict(np.load(golden / "tiny-io.npz"))


def _model(golden, align_corners: bool) -> FOMM:
    config = load_config(golden / "tiny.yaml")
    config.model_params.align_corners = align_corners
    model = FOMM(config, with_discriminator=True)
    load_state_dicts(model.networks(), read_checkpoint(golden / "tiny-cpk.pth.tar"))
    return model.eval()


def _close(actual: torch.Tensor, expected: np.ndarray, name: str) -> None:
    torch.testing.assert_close(actual.detach().float(), torch.from_numpy(expected), atol=ATOL, rtol=0,
                               msg=lambda m: f"{name}: {m}")


@pytest.fixture(scope="module", params=[0, 1], ids=["ac0", "ac1"])
def run(request, golden, io):
    """Run the networks once per align_corners setting; return (prefix, outputs)."""
    ac = request.param
    model = _model(golden, bool(ac))
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"])
    out = {}
    with torch.no_grad():
        kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
        out["kp_source_value"], out["kp_source_jacobian"] = kp_source.value, kp_source.jacobian
        out["kp_driving_value"], out["kp_driving_jacobian"] = kp_driving.value, kp_driving.jacobian
        # The fixture animates source 0 with each of the three driving frames.
        gen = model.generator(source[[0, 0, 0]], kp_driving, kp_source[[0, 0, 0]])
        for field in ("prediction", "deformed", "mask", "sparse_deformed", "occlusion_map", "deformation"):
            out[f"gen_{field}"] = getattr(gen, field)
        # The fixture's pyramid and discriminator maps are of the real (driving) frames.
        pyramid = ImagePyramid(model.config.train_params.scales, 3)(driving)
        for scale, image in pyramid.items():
            out[f"pyramid_prediction_{scale}"] = image
        disc = model.discriminator(pyramid, kp_driving.value)
        for scale, result in disc.items():
            out[f"disc_prediction_map_{scale}"] = result.prediction_map
            for i, fmap in enumerate(result.feature_maps):
                out[f"disc_feature_map_{scale}_{i}"] = fmap
        for rel, adapt in [(0, 0), (1, 0), (1, 1)]:
            for frame in range(3):
                kp = normalize_kp(kp_source[[0]], kp_driving[[frame]], kp_driving[[0]],
                                  adapt_movement_scale=bool(adapt), use_relative_movement=bool(rel),
                                  use_relative_jacobian=bool(rel))
                out[f"norm_rel{rel}_adapt{adapt}_frame{frame}_value"] = kp.value
                out[f"norm_rel{rel}_adapt{adapt}_frame{frame}_jacobian"] = kp.jacobian
    transform = Transform.from_params(torch.from_numpy(io["tps_theta"]), torch.from_numpy(io["tps_control_params"]),
                                      align_corners=bool(ac))
    coords = torch.from_numpy(io["tps_coordinates"])
    out["tps_warped"] = transform.warp_coordinates(coords)
    out["tps_jacobian"] = transform.jacobian(coords)
    out["tps_transformed_frame"] = transform.transform_frame(driving[:2])
    return f"ac{ac}_", out


def test_every_fixture_output_is_checked(run, io):
    prefix, out = run
    expected = {k[len(prefix):] for k in io if k.startswith(prefix)}
    assert expected == set(out), f"unchecked: {expected - set(out)}, unknown: {set(out) - expected}"


@pytest.mark.parametrize("group", ["kp_", "gen_", "pyramid_", "disc_", "norm_", "tps_"])
def test_outputs_match_original(run, io, group):
    prefix, out = run
    names = sorted(n for n in out if n.startswith(group))
    assert names
    for name in names:
        _close(out[name], io[prefix + name], prefix + name)
