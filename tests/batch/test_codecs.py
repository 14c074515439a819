"""The decoder and encoder a batch worker picks, and every fallback to the CPU."""

from __future__ import annotations

import torch

from fomm.batch.codecs import (
    CPU_DECODER,
    LIBX264,
    NVDEC,
    NVENC,
    choose_decoder,
    choose_encoder,
    hwaccel_for,
    nvenc_opens,
    open_input,
)
from tests.media import make_video


def test_cpu_workers_decode_and_encode_on_the_cpu():
    assert choose_decoder("cpu").name == CPU_DECODER
    assert choose_decoder(None, devices=["cuda"], cuda_available=True).name == CPU_DECODER
    assert choose_encoder("cpu", nvenc_problem=None).name == LIBX264
    assert hwaccel_for(choose_decoder("cpu")) is None


def test_cuda_decoder_falls_back_naming_why():
    no_hwaccel = choose_decoder("cuda:0", devices=["vaapi"], cuda_available=True)
    assert (no_hwaccel.name, no_hwaccel.hardware) == (CPU_DECODER, False) and "without the cuda" in no_hwaccel.reason
    no_gpu = choose_decoder("cuda", devices=["cuda"], cuda_available=False)
    assert no_gpu.name == CPU_DECODER and "no CUDA device" in no_gpu.reason
    nvdec = choose_decoder("cuda:1", devices=["cuda", "drm"], cuda_available=True)
    assert nvdec.name == NVDEC and nvdec.hardware
    accel = hwaccel_for(nvdec)
    assert type(accel).__name__ == "HWAccel"


def test_cuda_encoder_is_nvenc_only_where_it_opens():
    assert choose_encoder("cuda", nvenc_problem=None).name == NVENC
    h200 = choose_encoder("cuda", nvenc_problem="h264_nvenc does not open here")
    assert (h200.name, h200.hardware) == (LIBX264, False) and "does not open" in str(h200)
    if not torch.cuda.is_available():  # the real probe on a machine without a GPU
        assert choose_encoder("cuda").name == LIBX264 and nvenc_opens() is not None


def test_nvdec_that_cannot_open_decodes_on_the_cpu(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", n=5)
    forced = choose_decoder("cuda", devices=["cuda"], cuda_available=True)  # as if a GPU were there
    with open_input(str(clip), forced) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 5
