"""``--compile`` (Animator(compile=True)) with TPSMM and MRAA models: tiny random models of the published
architectures (the presets, narrowed) decode compiled as they do eager, the short last batch padded so the
generator is traced once. The graphs are traced by a recording compiler (seconds); inductor itself on these
models was run by hand (TPSMM: within 3e-6 of eager; see tests/animation/test_compiled.py for FOMM's)."""

from __future__ import annotations

import pytest
import torch

from fomm.animation import Animator
from fomm.animation.compiled import CompiledBackend
from fomm.families import read_config
from tests.animation.test_compiled import Recorder

SIZE, BATCH, FRAMES = 64, 2, 3


def _narrow(section, blocks: int = 2) -> None:
    section.block_expansion, section.max_features = 4, 16
    if hasattr(section, "num_blocks"):
        section.num_blocks = blocks


def tiny_model(preset: str):
    """The preset's architecture (its norms, masks, background motion, AVD network) at a few channels."""
    family, config = read_config(preset)
    mp = config.model_params
    if family.name == "tpsmm":
        mp.common_params.num_tps = 2
        _narrow(mp.generator_params)
        _narrow(mp.dense_motion_params)
    else:
        mp.num_regions = 3  # the hull of relative mode needs three
        for section in (mp.region_predictor_params, mp.generator_params, mp.bg_predictor_params,
                        mp.generator_params.pixelwise_flow_predictor_params):
            _narrow(section)
        mp.generator_params.num_bottleneck_blocks = 1
    torch.manual_seed(0)
    return family.build_model(config, family.inference_networks()).eval()


@pytest.mark.parametrize("preset, mode", [("tpsmm-vox-256", "avd"), ("mraa-taichi-256", "relative")])
def test_compiled_decoding_equals_eager(preset, mode):
    """The compiled graph is the decoding, the same in every mode (modes differ in the motion given to
    it, computed eager), so one mode per family is traced."""
    model = tiny_model(preset)
    generator = torch.Generator().manual_seed(1)
    source = torch.rand(3, SIZE, SIZE, generator=generator)
    driving = [torch.rand(3, SIZE, SIZE, generator=generator) for _ in range(FRAMES)]
    eager = Animator(model, source, size=SIZE, batch_size=BATCH, mode=mode)
    expected = torch.stack([f.image for f in eager.stream(driving, output="tensor")])
    recorder = Recorder()
    animator = Animator(model, source, size=SIZE, batch_size=BATCH, mode=mode)
    animator.backend = CompiledBackend(animator.backend, BATCH, compiler=recorder)
    compiled = torch.stack([f.image for f in animator.stream(driving, output="tensor")])
    assert len(recorder.graphs) == 1 and animator.backend.compiled == {"generator"}
    assert any(shape[0] == BATCH for shape in recorder.graphs[0])  # the last frame padded to the batch
    assert compiled.shape == expected.shape == (FRAMES, 3, SIZE, SIZE)
    torch.testing.assert_close(compiled, expected, atol=1e-5, rtol=0)
