"""The one library entry point of animation: a source image and a driving video in, an output file out.

    import fomm

    model = fomm.load_model("vox-cpk.pth.tar")
    result = fomm.animate_file(model, "face.jpg", "driving.mp4", "result.mp4",
                               fomm.AnimationOptions(crop="auto", paste_back=True, best_frame="auto"))
    print(result.frames, result.seconds, result.output)

Like whisper's ``transcribe``, the library does all the work and never prints: ``fomm animate``, the
app, ``fomm demo``, ``fomm batch`` and the benchmarks are thin layers over :func:`animate_file`, and
turn its :class:`Progress` events into a progress bar of their own (an exception raised by the
callback cancels the run).

The steps, in order: the inputs are opened and every output path is checked (before any work); the
animation is planned by :func:`plan_animation` (the photo's crop, the driving video's track, the best
frame: one keypoints-only pass each when asked); then frames are decoded in a background thread,
animated in batches, rendered and encoded in another thread. Outputs are written to temporary names
and renamed at the end, so an error or a cancel leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .animation import AnimatedFrame, AnimationError, Animator, BestFrame, compose
from .animation.options import API_WORDS, AnimationOptions, OptionsError, Vocabulary
from .io import BackgroundWriter, VideoReader, VideoWriter, is_video_path, read_image
from .io.writer import H264_SUFFIXES

STAGES = ("best frame", "track driving", "track source", "smooth motion", "animate")  # "track source": a source video


@dataclass(frozen=True)
class Progress:
    """One step of a run: ``done`` of ``total`` frames (None when unknown) of ``stage`` ("track driving",
    "best frame", "animate"), or a ``note`` for the user (stage "note": the crop found, the segments, the
    best frame chosen)."""

    stage: str
    done: int = 0
    total: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Output:
    """One file a run writes: ``path`` (.mp4/.mov/.mkv, .gif, or a folder of PNG frames), the frames in
    ``layout`` with ``keypoints`` drawn (None: as the options say), enlarged ``scale`` times, the driving
    video's audio when ``audio`` (None: the options' choice); ``crop_view``: with paste-back, the first
    face's crop instead of the pasted photo."""

    path: str | os.PathLike
    layout: str | None = None
    keypoints: bool | None = None
    audio: bool | None = None
    scale: int = 1
    crop_view: bool = False  # the first face's crop (source | driving | result at the model's size), not the photo


@dataclass
class AnimationResult:
    """What a run did: ``frames`` animated in ``seconds`` (after planning), written to ``outputs`` (the
    first is ``output``); ``truncated``: the driving video ended early (damaged), ``best_frame`` the
    reference chosen, ``segments`` of the driving track (1 when not cropped), ``boxes`` the photo's crops."""

    frames: int
    seconds: float
    outputs: list[Path]
    truncated: bool = False
    best_frame: BestFrame | None = None
    segments: int = 1
    boxes: list = field(default_factory=list)
    still: np.ndarray | None = None

    @property
    def output(self) -> Path:
        return self.outputs[0]

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


# ------------------------------------------------------------------------------------- planning
ProgressCallback = Callable[[Progress], None]


@dataclass
class Plan:
    """A ready animation (see :class:`fomm.crop.animate.Animation`) and relative motion's reference."""

    animation: Any
    reference: BestFrame | None


def _fixes(words: Vocabulary) -> tuple[str, str]:
    """How to go on when no subject is found, in the caller's words."""
    box, none = words.setting("crop", "X,Y,W,H"), words.setting("crop", "none")
    return (words.fixes.get("source", f"pass {box} to give its box by hand, or {none} to use the whole photo"),
            words.fixes.get("driving", f"pass {words.setting('driving_crop', 'X,Y,W,H')} to give the driving crop "
                                       f"by hand, or {words.setting('driving_crop', 'none')}"))


def _counted(frames: Iterable, stage: str, total: int | None, progress: ProgressCallback | None) -> Iterable:
    """``frames``, calling ``progress`` after each one is taken (possibly from a decode thread)."""
    if progress is None:
        return frames

    def counting():
        for i, frame in enumerate(frames, 1):
            yield frame
            progress(Progress(stage, i, total))

    return counting()


def _note(progress: ProgressCallback | None, text: str) -> None:
    if progress is not None:
        progress(Progress("note", note=text))


def plan_animation(model, photo: np.ndarray, driving: VideoReader, options: AnimationOptions, *,
                   progress: ProgressCallback | None = None, words: Vocabulary = API_WORDS,
                   driving_name: str | None = None, photo_boxes: Sequence | None = None) -> Plan:
    """Build the animation of ``photo`` by ``driving`` (an open reader, read again for each pass): the
    photo's crop(s) (found, given or none), the driving video's crop per segment (tracked: one pass), the
    animators, and the best frame (one keypoints-only pass). ``photo_boxes``: the photo's crops when
    already found (the app finds them first, so that "no face" comes before any work)."""
    from .crop.animate import Animation

    if not options.cropping:
        animation = Animation.plain(Animator(model, photo, options), options.keypoints)
    else:
        animation = _plan_crops(model, photo, driving, options, progress, words, driving_name, photo_boxes)
    strength = options.smooth_strength()
    if strength:  # one keypoints-only pass: the driving motion smoothed over time, without delay
        animation.smooth_driving(_counted(driving, "smooth motion", driving.num_frames, progress), strength)
    return Plan(animation, _best_frame(animation, driving, options, progress))


def _plan_crops(model, photo, driving: VideoReader, options: AnimationOptions, progress, words: Vocabulary,
                driving_name: str | None, photo_boxes: Sequence | None):
    from .crop import CropOptions
    from .crop.animate import Animation, plan_driving, source_boxes
    from .crop.detect import check_detector

    source_fix, driving_fix = _fixes(words)
    size = int(options.size or model.config.frame_size)
    strength = options.smooth_strength()
    crop_options = CropOptions(target=options.target, size=size, margin=options.crop_margin,
                               backend=check_detector(options.detector),
                               **({} if strength is None else {"smooth": strength}))
    boxes = list(photo_boxes) if photo_boxes is not None else source_boxes(
        photo, options.crop, crop_options, options.faces, fit=options.fit, fix=source_fix, face=options.face)
    for box in boxes:
        _note(progress, f"source crop {box.describe()}")
    crop = options.driving_crop_or_default
    frames = _counted(driving, "track driving", driving.num_frames, progress) if crop == "auto" else driving
    found = plan_driving(frames, driving.size, crop, crop_options, driving_name or str(driving.path), driving_fix)
    if found is not None and found.num_segments > 1:
        _note(progress, f"driving video: {found.num_segments} segments (the subject moved too far for one crop or "
                        "left); relative motion restarts at each")
    return Animation.prepare(lambda crop: Animator(model, crop, options, size=size), photo, boxes, found, size,
                             paste_back=options.paste_back, keypoints=options.keypoints)


def _best_frame(animation, driving: VideoReader, options: AnimationOptions, progress) -> BestFrame | None:
    if options.best_frame is None or animation.faces[0].animator.mode != "relative":
        return None
    if options.best_frame == "auto":
        best = animation.best_frame(_counted(driving, "best frame", driving.num_frames, progress))
        _note(progress, f"starting from frame {best.index} (pose distance {best.distance:.3f})")
        return best
    return animation.best_frame(driving, options.best_frame)


# ------------------------------------------------------------------------------------- outputs
def _writer(output: Output, options: AnimationOptions, reader: VideoReader, overwrite: bool,
            inputs: Sequence, encoder, sound: VideoReader | None = None) -> VideoWriter:
    """The output's writer, at ``reader``'s frame rate with ``sound``'s audio (default: ``reader``'s);
    checks its path (extension, existing file, inputs) before any work."""
    sound = sound or reader
    carries_sound = Path(output.path).suffix.lower() in H264_SUFFIXES
    wanted = output.audio if output.audio is not None else options.audio
    if wanted and not carries_sound:
        path = output.path
        raise OptionsError(lambda w: f"{w.name('audio')}: {path} cannot carry sound; write an .mp4/.mov/.mkv or "
                                     f"{w.drop('audio')}")
    if wanted and not sound.has_audio:
        raise OptionsError(lambda w: f"{w.name('audio')}: {sound.path} has no audio track; {w.drop('audio')}")
    audio = wanted is not False and carries_sound and sound.has_audio
    return VideoWriter(output.path, fps=reader.fps, audio_from=sound.path if audio else None, overwrite=overwrite,
                       inputs=tuple(inputs), encoder=encoder)


def _codecs(options: AnimationOptions, model, device):
    """The video codecs of a run (:mod:`fomm.io.codecs`): for ``codec_device="auto"``, the GPU's where the
    networks run on CUDA: a loaded model's device, else the one it is loaded on (None: CUDA if any)."""
    from .io.codecs import select_codecs

    where = getattr(model, "device", None)
    where = device if where is None else where
    if where is None or str(where) == "auto":
        import torch

        where = "cuda" if torch.cuda.is_available() else "cpu"
    return select_codecs(options.codec_device, where)


@contextlib.contextmanager
def _codec_errors():
    """A GPU codec that ``codec_device="cuda"`` asked for and this machine lacks, in the caller's words."""
    from .io.codecs import CodecUnavailable

    try:
        yield
    except CodecUnavailable as exc:
        problem = exc.problem
        raise OptionsError(lambda w: f"{w.setting('codec_device', 'cuda')}: {problem}; use "
                                     f"{w.setting('codec_device', 'auto')} (the GPU's codecs where they open, else "
                                     f"the CPU's) or {w.setting('codec_device', 'cpu')}") from None


def _model(model, device):
    """A loaded model or backend; a name or path is loaded, a callable called (after the inputs are checked)."""
    if isinstance(model, (str, os.PathLike)):
        from .api import load_model

        return load_model(model, device=device)
    if callable(model) and not hasattr(model, "config"):
        return model()
    return model


def _enlarge(frame: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return frame
    from PIL import Image

    height, width = frame.shape[:2]
    return np.asarray(Image.fromarray(frame).resize((width * scale, height * scale), Image.Resampling.BICUBIC))


def _picture(animation, frame: AnimatedFrame, output: Output, options: AnimationOptions) -> np.ndarray:
    layout = output.layout or options.layout
    keypoints = options.keypoints if output.keypoints is None else output.keypoints
    if output.crop_view:
        face = animation.faces[0]
        return _enlarge(compose(face.animator, frame.faces[0] if frame.faces else frame, layout, keypoints),
                        output.scale)
    if keypoints == animation.keypoints:
        return _enlarge(animation.render(frame, layout), output.scale)
    drawn = animation.keypoints
    try:  # an output that draws keypoints differently from the animation's own setting
        animation.keypoints = keypoints
        return _enlarge(animation.render(frame, layout), output.scale)
    finally:
        animation.keypoints = drawn


# ----------------------------------------------------------------------------------------- runs
def _check_still(source, options: AnimationOptions) -> None:
    """Refuse the options of a source video (:mod:`fomm.crop.video_source`) for a still image."""
    name = "the source" if isinstance(source, np.ndarray) else source
    for key, used in (("loop", options.loop), ("audio_from", options.audio_from != "driving")):
        if used:
            setting = options.audio_from if key == "audio_from" else True
            raise OptionsError(lambda w, key=key, setting=setting: (
                f"{w.name(key) if setting is True else w.setting(key, setting)} is for a source video and {name} is "
                f"a still image; give a video as the source or {w.drop(key)}"))


def animate_file(model, source: str | os.PathLike | np.ndarray, driving: str | os.PathLike,
                 output: str | os.PathLike | Output | Sequence[Output], options: AnimationOptions | None = None, *,
                 progress: ProgressCallback | None = None, overwrite: bool = False, inputs: Sequence = (),
                 words: Vocabulary = API_WORDS, device=None, driving_name: str | None = None,
                 photo_boxes: Sequence | None = None, still: tuple[int, Output] | None = None) -> AnimationResult:
    """Animate ``source`` (an image path or an (H, W, 3) uint8 array; a video path: frame by frame, into
    one output, see :mod:`fomm.crop.video_source`) with ``driving`` (a video path or a folder of frames)
    into ``output`` (a path, an :class:`Output` or several), and return the :class:`AnimationResult`.

    ``model``: a loaded model of any family or a backend, a name/path for :func:`fomm.load_model` (on
    ``device``), or a callable that loads one, called once the inputs and outputs are checked (so that a
    typo fails before a model loads). ``options``: see :class:`AnimationOptions`. ``progress``: called with every
    :class:`Progress` event (from this thread or a decode thread); an exception it raises cancels the
    run, which then leaves no output behind. ``overwrite``: replace existing outputs (never an input:
    ``inputs`` lists more files that must not be written). ``words``: the vocabulary of option names in
    messages (the CLI's, the app's); ``driving_name``: the driving file's name in messages (the app's
    upload name). ``photo_boxes``: the photo's crops, when already found. ``still``: (frame index, how to
    draw it): also keep that frame's picture (the first frame's if the clip is shorter) as ``result.still``.
    """
    options = options or AnimationOptions()
    if isinstance(source, (str, os.PathLike)) and is_video_path(source):  # a source video
        from .crop.video_source import animate_video_file

        if isinstance(output, (list, tuple)):
            raise AnimationError("a source video is animated into one output; give one path")
        output = output.path if isinstance(output, Output) else output
        with _codec_errors():
            return animate_video_file(model, source, driving, output, options, progress=progress,
                                      overwrite=overwrite, inputs=inputs, load=lambda: _model(model, device),
                                      words=words, codecs=_codecs(options, model, device))
    _check_still(source, options)
    if not isinstance(output, (list, tuple)):
        output = [output if isinstance(output, Output) else Output(output)]
    photo = read_image(Path(source)) if isinstance(source, (str, os.PathLike)) else source
    source_path = None if isinstance(source, np.ndarray) else source
    with _codec_errors(), contextlib.ExitStack() as pipeline:
        # Entered in the pipeline's order and unwound in reverse on success, error, cancel or Ctrl-C: each
        # thread is joined before the container it uses closes, and the writers discard their partial
        # output unless all went well.
        codecs = _codecs(options, model, device)
        reader = pipeline.enter_context(VideoReader(driving, decoder=codecs.decoder))  # fails now on an image, ...
        writers = [pipeline.enter_context(_writer(o, options, reader, overwrite, (source_path, driving, *inputs),
                                                  codecs.encoder)) for o in output]
        model = _model(model, device)
        plan = plan_animation(model, photo, reader, options, progress=progress, words=words,
                              driving_name=driving_name, photo_boxes=photo_boxes)
        animation = plan.animation
        start = time.perf_counter()
        backgrounds = [pipeline.enter_context(BackgroundWriter(w)) for w in writers]
        stream = pipeline.enter_context(contextlib.closing(animation.stream(reader, plan.reference)))
        count, picture = 0, None
        for frame in stream:
            for out, background in zip(output, backgrounds, strict=True):
                background.write(_picture(animation, frame, out, options))
            if still is not None and (frame.index == still[0] or picture is None):
                picture = _picture(animation, frame, still[1], options)
            count += 1
            if progress is not None:
                progress(Progress("animate", count, reader.num_frames))
        if count == 0:
            raise AnimationError(f"{driving_name or driving} has no frames; give a video with at least one")
    seconds = time.perf_counter() - start
    segments = animation.driving.num_segments if animation.driving is not None else 1
    return AnimationResult(count, seconds, [Path(o.path) for o in output], reader.truncated, plan.reference,
                           segments, [f.box for f in animation.faces if f.box is not None], picture)


__all__ = ["STAGES", "AnimationOptions", "AnimationResult", "Output", "Plan", "Progress", "animate_file",
           "plan_animation"]
