"""The video codecs a run picks (--codec-device auto|cpu|cuda), every fallback to the CPU, and that the CPU
path writes the same bytes as before. (Without a GPU here the NVDEC/NVENC paths are forced, to see them
fail to open and fall back; their speed is measured by benchmarks/batch.py on a GPU.)"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from fomm import AnimationOptions, animate_file
from fomm.animation import options as animation_options
from fomm.cli import main
from fomm.io import VideoReader, VideoWriter, read_video
from fomm.io import codecs as codecs_module
from fomm.io.codecs import (
    CODEC_DEVICES,
    CPU_CODECS,
    CPU_DECODER,
    LIBX264,
    NVDEC,
    NVENC,
    CodecChoice,
    CodecUnavailable,
    choose_decoder,
    choose_encoder,
    hwaccel_for,
    nvenc_opens,
    select_codecs,
)
from fomm.io.outputs import PARTIAL_PATTERN
from fomm.pipeline import _codecs
from tests.media import make_image, make_video, pattern_frame

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallbacks of a machine without a GPU")
GPU_PROBES = {"devices": ["cuda"], "cuda_available": True, "nvenc_problem": None}  # as on a GPU with both


@pytest.fixture(autouse=True)
def _fresh_probes(monkeypatch):
    monkeypatch.setattr(codecs_module, "_nvdec_broken", {})
    codecs_module._announce.cache_clear()


def test_the_codec_devices_are_the_options_own():
    assert CODEC_DEVICES == animation_options.CODEC_DEVICES
    with pytest.raises(animation_options.OptionsError, match="codec_device must be one of auto, cpu, cuda"):
        AnimationOptions(codec_device="gpu")


def test_cpu_networks_or_codec_device_cpu_keep_the_cpu_codecs():
    assert select_codecs("auto", "cpu", **GPU_PROBES) == CPU_CODECS.__class__(
        choose_decoder("cpu"), choose_encoder("cpu"))
    assert select_codecs("auto", "cpu").decoder.name == CPU_DECODER
    assert select_codecs("cpu", "cuda:0", **GPU_PROBES) is CPU_CODECS
    assert hwaccel_for(select_codecs("cpu", "cuda", **GPU_PROBES).decoder) is None
    with pytest.raises(ValueError, match="codec_device must be one of"):
        select_codecs("nvidia", "cuda")


def test_auto_on_cuda_takes_the_gpu_codecs_of_the_networks_gpu():
    chosen = select_codecs("auto", "cuda:1", **GPU_PROBES)
    assert (chosen.decoder.name, chosen.decoder.gpu, chosen.decoder.required) == (NVDEC, 1, False)
    assert (chosen.encoder.name, chosen.encoder.gpu, chosen.encoder.required) == (NVENC, 1, False)
    assert type(hwaccel_for(chosen.decoder)).__name__ == "HWAccel"


def test_auto_on_cuda_falls_back_per_codec_and_says_why_once(caplog):
    h200 = {"devices": ["cuda"], "cuda_available": True, "nvenc_problem": "h264_nvenc does not open here (x)"}
    with caplog.at_level(logging.WARNING, logger="fomm.io.codecs"):
        first = select_codecs("auto", "cuda", **h200)
        select_codecs("auto", "cuda", **h200)
    assert first.decoder.name == NVDEC and (first.encoder.name, first.encoder.hardware) == (LIBX264, False)
    assert [r.getMessage() for r in caplog.records] == ["video codec on the CPU: libx264 (h264_nvenc does not open "
                                                        "here (x))"]
    no_hwaccel = select_codecs("auto", "cuda", devices=["vaapi"], cuda_available=True, nvenc_problem=None)
    assert no_hwaccel.decoder.name == CPU_DECODER and "without the cuda hwaccel" in no_hwaccel.decoder.reason
    no_gpu = choose_decoder("cuda", devices=["cuda"], cuda_available=False)
    assert no_gpu.name == CPU_DECODER and "no CUDA device" in no_gpu.reason


def test_codec_device_cuda_requires_both_and_names_what_is_missing():
    chosen = select_codecs("cuda", "cpu", **GPU_PROBES)  # networks on the CPU, codecs on GPU 0
    assert (chosen.decoder.name, chosen.encoder.name) == (NVDEC, NVENC)
    assert chosen.decoder.required and chosen.encoder.required and chosen.encoder.gpu == 0
    with pytest.raises(CodecUnavailable, match="no NVENC encoding: h264_nvenc does not open"):
        select_codecs("cuda", "cuda", devices=["cuda"], cuda_available=True,
                      nvenc_problem="h264_nvenc does not open here")
    with pytest.raises(CodecUnavailable, match="no NVDEC decoding: no CUDA device is visible"):
        select_codecs("cuda", "cuda", devices=["cuda"], cuda_available=False, nvenc_problem=None)


@NO_GPU
def test_the_real_probes_without_a_gpu_fall_back():
    assert nvenc_opens() is not None and choose_encoder("cuda").name == LIBX264
    assert choose_decoder("cuda").name == CPU_DECODER


class _ModelOn:
    def __init__(self, device):
        self.device = torch.device(device)


@NO_GPU
def test_animate_file_asks_for_the_codecs_of_the_models_device(caplog):
    with caplog.at_level(logging.WARNING, logger="fomm.io.codecs"):
        on_gpu = _codecs(AnimationOptions(), _ModelOn("cuda:1"), None)  # a model on a GPU this machine lacks
    assert (on_gpu.decoder.name, on_gpu.encoder.name) == (CPU_DECODER, LIBX264)
    assert "no CUDA device is visible" in caplog.text and "h264_nvenc" in caplog.text
    assert _codecs(AnimationOptions(), "model.pth", "cpu") == select_codecs("auto", "cpu")
    assert _codecs(AnimationOptions(codec_device="cpu"), _ModelOn("cuda"), None) is CPU_CODECS


# ------------------------------------------------------------------------ NVDEC / NVENC that do not open
FORCED_NVDEC = CodecChoice(NVDEC, True, "as if a GPU were there")
FORCED_NVENC = CodecChoice(NVENC, True, "as if the GPU had NVENC")


@NO_GPU
def test_nvdec_that_does_not_open_decodes_the_same_frames_on_the_cpu(tmp_path, caplog):
    clip = make_video(tmp_path / "clip.mp4", n=5)
    with caplog.at_level(logging.WARNING, logger="fomm.io.codecs"):
        with VideoReader(clip, decoder=FORCED_NVDEC) as reader:
            frames = np.stack(list(reader))
    assert np.array_equal(frames, read_video(clip))
    assert "NVDEC does not open on GPU 0" in caplog.text
    required = CodecChoice(NVDEC, True, "asked for", required=True)
    with pytest.raises(CodecUnavailable, match="NVDEC does not open for"):
        VideoReader(clip, decoder=required)


def _write(path, encoder=None, n=6):
    kwargs = {} if encoder is None else {"encoder": encoder}
    with VideoWriter(path, fps=25, **kwargs) as writer:
        for i in range(n):
            writer.write(pattern_frame(i, (63, 47)))  # odd sides: padded alike on both paths
    return path.read_bytes()


def _x264_settings(data: bytes) -> str:
    """The options line x264 writes into its first frame (an SEI message)."""
    start = data.find(b"options: ")
    return data[start:data.find(b"\x00", start)].decode("ascii", "replace") if start >= 0 else ""


@NO_GPU
def test_nvenc_that_does_not_open_writes_libx264s_bytes(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="fomm.io.writer"):
        fallen_back = _write(tmp_path / "nvenc.mp4", FORCED_NVENC)
    direct = _write(tmp_path / "cpu.mp4")
    assert _x264_settings(fallen_back) == _x264_settings(direct)  # says which setting, if the bytes differ
    assert fallen_back == direct
    assert "NVENC does not open" in caplog.text and "encoding with libx264" in caplog.text
    required = CodecChoice(NVENC, True, "asked for", required=True)
    with pytest.raises(CodecUnavailable, match="NVENC does not open for"):
        _write(tmp_path / "required.mp4", required)
    assert not (tmp_path / "required.mp4").exists() and not list(tmp_path.glob(PARTIAL_PATTERN))


# ------------------------------------------------------------------------ through animate_file and the CLI
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    return make_image(folder / "source.png", size=(64, 64)), make_video(folder / "driving.mp4", n=3, size=(64, 64))


@pytest.mark.slow
def test_the_cpu_path_is_bit_identical_whatever_the_codec_device_says(pair, tmp_path):
    source, driving = pair
    outputs = {}
    for name, options in (("default", None), ("cpu", AnimationOptions(codec_device="cpu")),
                          ("auto", AnimationOptions(codec_device="auto"))):
        animate_file("default", source, driving, tmp_path / f"{name}.mp4", options, device="cpu")
        outputs[name] = (tmp_path / f"{name}.mp4").read_bytes()
    assert outputs["cpu"] == outputs["default"] == outputs["auto"]


@NO_GPU
def test_fomm_animate_codec_device_cuda_without_a_gpu_is_one_line(pair, tmp_path, capsys):
    source, driving = pair
    out = tmp_path / "out.mp4"
    assert main(["animate", str(source), str(driving), "-o", str(out), "--codec-device", "cuda"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--codec-device cuda: no NVDEC decoding" in err, err
    assert "use --codec-device auto" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(PARTIAL_PATTERN))
    assert main(["animate", str(source), str(driving), "-o", str(out), "--codec-device", "gpu"]) != 0
    assert "--codec-device must be one of auto, cpu, cuda, got 'gpu'" in capsys.readouterr().err
