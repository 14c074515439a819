"""The TPSMM backend gives the animator the authors' demo: relative (hull-scaled), standard (absolute)
and avd modes, decoding from source features computed once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fomm
from fomm.families import backend_for
from fomm.families.tpsmm.backend import TPSMMBackend, TPSMMModeError
from fomm.families.tpsmm.model import NETWORKS, TPSMM
from tests.tolerances import assert_chain_close


@pytest.fixture(scope="module")
def io(golden):
    path = golden / "tpsmm-tiny-io.npz"
    if not path.exists():
        pytest.fail(f"golden fixture {path} is missing", pytrace=False)
    return dict(np.load(path))


@pytest.fixture(scope="module")
def model(golden):
    return fomm.load_model(golden / "tpsmm-tiny.pth.tar", device="cpu")


@pytest.fixture(scope="module")
def backend(model):
    backend = backend_for(model, precision="fp32", channels_last=False)
    assert isinstance(backend, TPSMMBackend)
    return backend


def _animate(backend, sources, driving, mode):
    """The demo's loop through the backend, as the animator runs it: source keypoints and features once,
    the initial frame's keypoints, then one batch of driving frames. The first of ``sources`` is
    animated; its keypoints are computed in the fixture's batch of two, since a batch of one rounds the
    ResNet's last layer differently (3e-5), which the TPS fit of nearby random points amplifies (6e-4)."""
    with torch.no_grad():
        kp_source = backend.keypoints(backend.to_input(sources))[:1]
        source = backend.to_input(sources[:1])
        features = backend.encode_source(source)
        kp_driving = backend.keypoints(backend.to_input(driving))
        kp = backend.normalize(kp_source, kp_driving, kp_driving[:1], mode=mode,
                               adapt_scale=backend.default_adapt_scale)
        return backend.decode(features, source, kp, kp_source), kp


def test_backend_describes_the_family(backend):
    assert (backend.family, backend.modes, backend.default_adapt_scale) == ("tpsmm", ("relative", "absolute", "avd"),
                                                                           True)
    backend.check_size(128)
    with pytest.raises(fomm.ConfigError, match="use a frame size that is a multiple of 32"):
        backend.check_size(120)


def test_relative_mode_reproduces_the_demo(backend, io):
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"])
    frames, kp = _animate(backend, source, driving, "relative")
    for i in range(3):
        torch.testing.assert_close(kp.value[i:i + 1], torch.from_numpy(io[f"relative_frame{i}"]), atol=1e-4, rtol=0)
    assert_chain_close(frames, io["demo_relative"])


def test_absolute_and_avd_modes_decode_the_fixtures_motion(backend, io):
    """absolute is the dense motion of the driving keypoints themselves (the fixture's gen_prediction);
    avd decodes the AVD network's keypoints (the fixture's avd)."""
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"])
    frames, kp = _animate(backend, source, driving, "absolute")
    torch.testing.assert_close(kp.value, torch.from_numpy(io["kp_driving"]), atol=1e-4, rtol=0)
    assert_chain_close(frames, io["gen_prediction"])
    _, kp = _animate(backend, source, driving, "avd")
    torch.testing.assert_close(kp.value, torch.from_numpy(io["avd"]), atol=1e-4, rtol=0)


def test_reconstruction_step_uses_the_background_motion(model, io):
    """As the authors' reconstruction.py: bg_predictor's affine goes to the dense motion (bg_gen_*)."""
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"])
    with torch.no_grad():
        kp_source = model.detect_motion(source)[:1]
        prediction, kp_driving, heatmaps = model.reconstruction_step(model.encode_source(source[:1]), source[:1],
                                                                     kp_source, driving)
    assert heatmaps is None
    torch.testing.assert_close(kp_driving.value, torch.from_numpy(io["kp_driving"]), atol=1e-4, rtol=0)
    assert_chain_close(prediction, io["bg_gen_prediction"])


def test_a_checkpoint_without_avd_network_refuses_avd_by_name(model):
    bare = TPSMM(model.config, [n for n in NETWORKS if n != "avd_network"]).eval()
    backend = backend_for(bare, channels_last=False)
    assert "avd" not in backend.modes
    kp = backend.keypoints(torch.rand(1, 3, 64, 64))
    with pytest.raises(TPSMMModeError, match="no avd_network .*--mode relative or absolute"):
        backend.normalize(kp, kp, kp, mode="avd", adapt_scale=True)


def test_bf16_keeps_the_motion_in_float32_and_stays_close(model, io):
    """Under bf16 the control points are computed in float32 (they are regressed coordinates), the TPS
    fit and the flow stay float32, and a frame stays within 1/255 on average of fp32's (bf16 is
    emulated on most CPUs: allow_slow, one frame)."""
    source, driving = torch.from_numpy(io["source"]), torch.from_numpy(io["driving"][1:2])
    exact = TPSMM(model.config).eval()
    exact.load_state_dict(model.state_dict())
    frames, kp = _animate(backend_for(exact, precision="bf16", allow_slow=True, channels_last=False), source,
                          driving, "absolute")
    assert kp.value.dtype == torch.float32 and frames.dtype == torch.float32
    torch.testing.assert_close(kp.value, torch.from_numpy(io["kp_driving"][1:2]), atol=1e-4, rtol=0)
    assert (frames - torch.from_numpy(io["gen_prediction"][1:2])).abs().mean() < 1 / 255
