"""How to animate: one typed, validated options object for every caller (the CLI, the app, live mode,
the demo, batch jobs and the Python API).

Every check of an option, alone or against another, is written here once. A bad value raises
:class:`OptionsError`, whose message names the problem and the fix. The message is written once, with
the options' names left as words to fill in, so that each caller words it in its own vocabulary:
``adapt_scale`` from Python, ``--adapt-scale`` on the command line, "adapt scale" in the app::

    try:
        options = AnimationOptions(mode="absolute", adapt_scale=True)
    except OptionsError as exc:
        exc.worded(CLI_WORDS)  # "--adapt-scale scales relative motion; it does nothing with --mode absolute: ..."

What depends on the model (whether its family has a mode, whether the networks fit a frame size) is
checked by :meth:`AnimationOptions.check_model` when the animator is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..words import API_WORDS, APP_WORDS, CLI_WORDS, Vocabulary, WordedError  # noqa: F401 (callers import them here)

MODES = ("relative", "absolute", "avd")
FITS = ("crop", "pad")
LAYOUTS = ("result", "side-by-side")
FACES = ("largest", "all")
CROPS = ("auto", "none")
TARGETS = ("face", "person")  # fomm.crop.detect.TARGETS (a test keeps them equal; importing it loads OpenCV)
DETECTORS = ("auto", "yunet", "haar", "mediapipe")  # fomm.crop.detect.DETECTORS (kept equal by a test)
AUDIO_FROM = ("driving", "source")
SMOOTH_WORDS = ("off", "auto")  # or a strength in frames (fomm.crop.smooth)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # fomm.precision.PRECISIONS (kept equal by a test)
CODEC_DEVICES = ("auto", "cpu", "cuda")  # fomm.io.codecs.CODEC_DEVICES (kept equal by a test)
MAX_BATCH_SIZE = 1024


# --------------------------------------------------------------------------------- vocabularies
# The callers' vocabularies live in fomm.words (light: the library's other errors word options too).
class OptionsError(WordedError, ValueError):
    """Animation options that cannot work: ``worded(vocabulary)`` is the message in a caller's words
    (``str()`` gives the Python API's)."""


def _one_of(key: str, value: Any, allowed: tuple, what: str = "") -> None:
    if value not in allowed:
        raise OptionsError(lambda w: f"{w.name(key)} must be one of {', '.join(map(str, allowed))}{what}, "
                                     f"got {value!r}")


def _positive_int(key: str, value: Any, limit: int | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionsError(lambda w: f"{w.name(key)} must be a whole number of at least 1, got {value!r}")
    if limit is not None and value > limit:
        raise OptionsError(lambda w: f"{w.name(key)} {value} is more than {limit}; choose at most {limit}")


def _is_box(value: Any) -> bool:
    return all(hasattr(value, name) for name in ("x", "y", "w", "h"))


# ------------------------------------------------------------------------------------ the options
@dataclass(frozen=True)
class AnimationOptions:
    """How a source is animated by a driving video; validated on construction.

    ``mode``: ``relative`` (the driving motion relative to its initial frame carried onto the source's
    pose), ``absolute`` (the driving motion as it is) or ``avd`` (animation via disentanglement, for
    models with an AVD network); None: the model family's default. ``adapt_scale``: scale relative
    motion by the keypoint hulls' size ratio (None: the family's default: off for FOMM, on for TPSMM
    and MRAA, as their demos do). ``best_frame``: None, ``"auto"`` or a frame index: the driving frame
    relative motion starts from. ``crop``: ``"none"`` (the animator's own center square), ``"auto"``
    (find the subject) or a box in the source photo; ``driving_crop``: the same for the driving video
    (None: ``"auto"`` when ``crop`` is given, else ``"none"``). ``paste_back``: put the animated crop
    back into the full-resolution photo. ``faces``: ``"largest"`` or ``"all"`` (needs paste-back).
    ``target``: ``"face"`` or ``"person"``. ``fit``: make non-square frames square by cropping or
    padding. ``size``: the networks' frame size (None: the model's training size). ``batch_size``:
    frames per forward pass (None: 4 on a CPU, 16 on a GPU). ``precision``, ``channels_last``,
    ``allow_slow``, ``compile``: how the networks run (see :mod:`fomm.precision`). ``layout``,
    ``keypoints``, ``audio``: what the output shows and carries. ``smooth``: ``"off"``, ``"auto"`` or a
    strength in frames: the driving motion (keypoints and jacobians) and the tracked boxes smoothed over
    time, without delay for files (one more keypoints-only pass over the driving video), causally in
    live mode (see :mod:`fomm.crop.smooth`); None: off (the tracked boxes keep their light smoothing;
    ``fomm live`` passes ``"auto"`` unless told otherwise). ``detector``: the face detector of
    ``crop="auto"`` (``"auto"``, ``"yunet"``, ``"haar"``, ``"mediapipe"``). ``face``: with
    ``crop="auto"``, animate the N-th face of the photo by size (0: the largest) instead of the largest.
    ``codec_device``: where video files are decoded and H.264 encoded: ``"auto"`` (the GPU's NVDEC and
    NVENC when the networks run on CUDA and they open there, else the CPU, the reason logged),
    ``"cpu"`` or ``"cuda"`` (an error when they are missing); see :mod:`fomm.io.codecs`.
    ``audio_from``, ``loop``: for a source video (:mod:`fomm.crop.video_source`): whose sound the output
    carries (``"driving"`` or ``"source"``), and whether the source starts again as it ends.
    """

    mode: str | None = None
    adapt_scale: bool | None = None
    best_frame: None | str | int = None
    crop: Any = "none"  # "none" | "auto" | fomm.crop.Box
    driving_crop: Any = None
    paste_back: bool = False
    faces: str = "largest"
    target: str = "face"
    crop_margin: float | None = None
    fit: str = "crop"
    size: int | None = None
    batch_size: int | None = None
    precision: str = "fp32"
    channels_last: bool | None = None
    allow_slow: bool = False
    compile: bool = False
    layout: str = "result"
    keypoints: bool = False
    audio: bool | None = None
    smooth: Any = None  # None | "off" | "auto" | a strength in frames
    detector: str = "auto"
    face: int | None = None
    codec_device: str = "auto"
    audio_from: str = "driving"  # "driving" | "source" (a source video's own sound)
    loop: bool = False  # a source video: start it again as it ends, so the output lasts as long as the driving

    def __post_init__(self) -> None:
        if self.mode is not None:
            _one_of("mode", self.mode, MODES)
        relative = self.mode in (None, "relative")
        if self.adapt_scale and not relative:
            mode = self.mode
            raise OptionsError(lambda w: f"{w.name('adapt_scale')} scales relative motion; it does nothing with "
                                         f"{w.setting('mode', mode)}: {w.drop('adapt_scale')} or use "
                                         f"{w.setting('mode', 'relative')}")
        if self.best_frame is not None:
            if self.best_frame != "auto" and (isinstance(self.best_frame, bool) or not isinstance(self.best_frame, int)
                                              or self.best_frame < 0):
                value = self.best_frame
                raise OptionsError(lambda w: f"{w.name('best_frame')} must be 'auto' or a frame index (0 or more), "
                                             f"got {value!r}")
            if not relative:
                mode = self.mode
                raise OptionsError(lambda w: f"{w.name('best_frame')} picks the reference frame of relative "
                                             f"motion; it does nothing with {w.setting('mode', mode)}: "
                                             f"{w.drop('best_frame')} or use {w.setting('mode', 'relative')}")
        for key in ("crop", "driving_crop"):
            value = getattr(self, key)
            if not (value is None and key == "driving_crop") and value not in CROPS and not _is_box(value):
                raise OptionsError(lambda w, key=key, value=value: f"{w.name(key)} must be none, auto or a box "
                                                                   f"X,Y,W,H, got {value!r}")
        _one_of("faces", self.faces, FACES)
        _one_of("target", self.target, TARGETS)
        if self.faces == "all" and not self.paste_back:
            raise OptionsError(lambda w: f"{w.setting('faces', 'all')} needs {w.name('paste_back')}: the faces are "
                                         "put back into one picture")
        if self.faces == "all" and _is_box(self.crop):
            raise OptionsError(lambda w: f"{w.setting('faces', 'all')} finds the faces itself; a box given by hand "
                                         f"is one face: drop the box or use {w.setting('faces', 'largest')}")
        if self.crop_margin is not None and not (isinstance(self.crop_margin, (int, float))
                                                 and math.isfinite(self.crop_margin) and self.crop_margin >= 0):
            margin = self.crop_margin
            raise OptionsError(lambda w: f"{w.name('crop_margin')} must be a number >= 0, got {margin!r}")
        self.smooth_strength()  # refuses bad values
        _one_of("detector", self.detector, DETECTORS)
        _one_of("audio_from", self.audio_from, AUDIO_FROM)
        if self.face is not None:
            if isinstance(self.face, bool) or not isinstance(self.face, int) or self.face < 0:
                face = self.face
                raise OptionsError(lambda w: f"{w.name('face')} must be a face's rank by size (0: the largest), "
                                             f"got {face!r}")
            if self.crop != "auto" or self.faces == "all":
                raise OptionsError(lambda w: f"{w.name('face')} picks one of the faces that "
                                             f"{w.setting('crop', 'auto')} finds: use it with "
                                             f"{w.setting('crop', 'auto')} and without {w.setting('faces', 'all')}")
        _one_of("fit", self.fit, FITS)
        _one_of("layout", self.layout, LAYOUTS)
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("codec_device", self.codec_device, CODEC_DEVICES)
        _positive_int("size", self.size)
        _positive_int("batch_size", self.batch_size, MAX_BATCH_SIZE)

    # ------------------------------------------------------------------------------ derived
    def smooth_strength(self) -> float | None:
        """The smoothing strength in frames (0: off); None: not asked for (the motion is not smoothed,
        the tracked boxes keep the tracker's light smoothing)."""
        value = self.smooth
        if value is None:
            return None
        if value == "off":
            return 0.0
        if value == "auto":
            return 2.0  # fomm.crop.smooth.AUTO_STRENGTH
        try:
            strength = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            strength = math.nan
        if not (math.isfinite(strength) and strength > 0):
            raise OptionsError(lambda w: f"{w.name('smooth')} must be off, auto or a strength in frames > 0 (e.g. "
                                         f"2), got {value!r}")
        return strength


    @property
    def cropping(self) -> bool:
        """Whether frames are cropped or pasted (else the animator takes each frame's center square)."""
        return (self.crop != "none" or self.driving_crop not in (None, "none") or self.paste_back
                or self.faces == "all")

    @property
    def source_crop(self) -> Any:
        return self.crop

    @property
    def driving_crop_or_default(self) -> Any:
        """The driving video's crop: as given, else ``"auto"`` when the source is cropped."""
        if self.driving_crop is not None:
            return self.driving_crop
        return "none" if self.crop == "none" else "auto"

    def replace(self, **changes: Any) -> AnimationOptions:
        """A copy with ``changes`` (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AnimationOptions:
        """Options from plain data (a manifest row, a JSON request); unknown names are refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionsError(lambda w: f"unknown option {unknown[0]!r}; the options are {', '.join(sorted(known))}")
        return cls(**values)

    # ----------------------------------------------------------------------- against a model
    def check_model(self, modes: tuple[str, ...], family: str) -> None:
        """Refuse a mode the model's family does not have (e.g. ``avd`` without an AVD network), and the
        options of relative motion when the family's default mode is another (MRAA's demo runs ``avd``)."""
        if self.mode == "avd" and "avd" not in modes:
            from .backend import NO_AVD_FIX

            raise OptionsError(lambda w: f"{w.setting('mode', 'avd')}: this {family} model has no AVD network "
                                         f"(avd_network): {NO_AVD_FIX}")
        if self.mode is not None and self.mode not in modes:
            mode = self.mode
            raise OptionsError(lambda w: f"{w.setting('mode', mode)}: this {family} model has no such mode; "
                                         f"use one of {', '.join(modes)}")
        default = modes[0]
        if self.mode is None and default != "relative":
            for key, given in (("best_frame", self.best_frame is not None), ("adapt_scale", bool(self.adapt_scale))):
                if given:
                    raise OptionsError(lambda w, key=key: f"{w.name(key)} is an option of relative motion, and this "
                                                          f"{family} model animates with {w.setting('mode', default)} "
                                                          f"by default: add {w.setting('mode', 'relative')} or "
                                                          f"{w.drop(key)}")

    def resolved_mode(self, modes: tuple[str, ...]) -> str:
        """The mode to run: as given, else the family's default (its first mode)."""
        return self.mode or modes[0]
