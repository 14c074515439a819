"""Finding faces and people in an image, offline, with what pip installs.

The floor is OpenCV's bundled Haar cascades (``opencv-python-headless`` 4.x ships them): the frontal
face cascade (``alt2``: on our tests it finds small faces the default one misses, with fewer
false positives), the profile cascade run on the image and its mirror (it only knows left-facing
profiles), and the HOG people detector for ``target="person"``. A better face detector is used
automatically when it is already installed (see :func:`available_backends`); none is ever required
and nothing is downloaded.

Images are RGB uint8 (H, W, 3). Detection runs on a copy whose longer side is at most ``max_side``
pixels (640, as the original crop tool does for its detector) and boxes come back in pixels of the
original image, largest first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np

from .box import Box, CropError

logger = logging.getLogger(__name__)

TARGETS = ("face", "person")
MAX_SIDE = 640
_local = threading.local()  # OpenCV classifiers are not safe to share between threads


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # a core dependency, but say how to fix a broken install
        raise CropError("face detection needs OpenCV: pip install 'opencv-python-headless>=4.8,<5'") from exc
    return cv2


def _cascade(name: str):
    cache = getattr(_local, "cascades", None)
    if cache is None:
        cache = _local.cascades = {}
    if name not in cache:
        cv2 = _cv2()
        path = cv2.data.haarcascades + name
        classifier = cv2.CascadeClassifier(path)
        if classifier.empty():
            raise CropError(f"OpenCV's cascade {path} is missing; reinstall 'opencv-python-headless>=4.8,<5' "
                            "(OpenCV 5 no longer ships the cascades)")
        cache[name] = classifier
    return cache[name]


def _hog():
    hog = getattr(_local, "hog", None)
    if hog is None:
        cv2 = _cv2()
        hog = _local.hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or (
            image.ndim == 3 and image.shape[2] != 3):
        shape = getattr(image, "shape", None)
        raise CropError(f"detection expects a uint8 RGB (H, W, 3) or gray (H, W) image, got {type(image).__name__} "
                        f"{shape}")


def _gray(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image in gray, downscaled so its longer side is at most ``max_side``; and the scale back."""
    cv2 = _cv2()
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    factor = min(1.0, max_side / max(height, width))
    if factor < 1.0:
        gray = cv2.resize(gray, (max(1, round(width * factor)), max(1, round(height * factor))),
                          interpolation=cv2.INTER_AREA)
    return gray, 1.0 / factor  # no histogram equalization: on a plain background it hides faces


def non_max_suppression(boxes: Sequence[Box], threshold: float = 0.3) -> list[Box]:
    """Keep the surest of boxes that overlap by more than ``threshold`` IoU, or where one box lies mostly
    inside another (the frontal and profile cascades often both fire on one face)."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(box.iou(k) <= threshold and box.intersection(k) <= 0.6 * min(box.area, k.area) for k in kept):
            kept.append(box)
    return kept


def _haar(gray: np.ndarray, name: str, min_size: int, max_size: int | None, mirror: bool = False,
          min_neighbors: int = 3) -> list[tuple[float, float, float, float, float]]:
    cascade = _cascade(name)
    width = gray.shape[1]
    if mirror:
        gray = gray[:, ::-1].copy()
    kwargs = {"scaleFactor": 1.1, "minNeighbors": min_neighbors, "minSize": (min_size, min_size)}
    if max_size:
        kwargs["maxSize"] = (max_size, max_size)
    rects, neighbors = cascade.detectMultiScale2(gray, **kwargs)
    found = []
    for (x, y, w, h), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(neighbors).reshape(-1), strict=True):
        x = width - x - w if mirror else x
        found.append((float(x), float(y), float(w), float(h), float(n)))
    return found


def haar_faces(image: np.ndarray, *, max_side: int = MAX_SIDE, min_size: float | None = None,
               max_size: float | None = None, profile: bool | str = True) -> list[Box]:
    """Faces by OpenCV's Haar cascades: frontal, plus profile (both directions) unless ``profile=False``;
    ``profile="fallback"`` runs the profile cascades only where no frontal face was found (cheaper).

    ``min_size`` / ``max_size``: face sizes to look for, in original pixels (default: from 1/24 of the
    image's shorter side up). Scores are the cascade's neighbour counts; profiles count for half.
    """
    gray, scale = _gray(image, max_side)
    low = max(20, round((min_size or min(image.shape[:2]) / 24) / scale))
    high = round(max_size / scale) if max_size else None
    if high is not None and high < low:
        return []
    raw = [(*r[:4], r[4]) for r in _haar(gray, "haarcascade_frontalface_alt2.xml", low, high)]
    if profile and not (raw and profile == "fallback"):
        for mirror in (False, True):
            # the profile cascade fires more often on clothes and hair: it needs more neighbours
            raw += [(*r[:4], r[4] / 2) for r in _haar(gray, "haarcascade_profileface.xml", low, high, mirror, 5)]
    boxes = [Box(x * scale, y * scale, w * scale, h * scale, s) for x, y, w, h, s in raw]
    return non_max_suppression(boxes)


def hog_people(image: np.ndarray, *, max_side: int = MAX_SIDE) -> list[Box]:
    """Standing people by OpenCV's HOG + linear SVM people detector (boxes about 0.5 wide for 1 high)."""
    cv2 = _cv2()
    rgb = np.dstack([image] * 3) if image.ndim == 2 else image
    height, width = rgb.shape[:2]
    # the detector's window is 64x128: people shorter than that are missed, so small frames are enlarged
    factor = min(max_side / max(height, width), max(1.0, 256 / min(height, width)))
    small = cv2.resize(rgb, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA) \
        if factor != 1.0 else rgb
    rects, weights = _hog().detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
    boxes = [Box(float(x / factor), float(y / factor), float(w / factor), float(h / factor), float(s))
             for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=True)
             if s > 0.3]
    return non_max_suppression(boxes, 0.4)


# ------------------------------------------------------------------------------------ backends
def _mediapipe_faces(image: np.ndarray, **_: object) -> list[Box]:
    """Faces by MediaPipe's BlazeFace (its model ships inside the wheel), when mediapipe is installed."""
    detector = getattr(_local, "mediapipe", None)
    if detector is None:
        import mediapipe as mp

        detector = _local.mediapipe = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                                min_detection_confidence=0.5)
    rgb = np.dstack([image] * 3) if image.ndim == 2 else np.ascontiguousarray(image)
    height, width = rgb.shape[:2]
    result = detector.process(rgb)
    boxes = []
    for detection in result.detections or ():
        rel = detection.location_data.relative_bounding_box
        boxes.append(Box(rel.xmin * width, rel.ymin * height, rel.width * width, rel.height * height,
                         float(detection.score[0])))
    return boxes


def _has_mediapipe() -> bool:
    try:
        import mediapipe as mp

        return hasattr(mp, "solutions") and hasattr(mp.solutions, "face_detection")
    except Exception:  # noqa: BLE001 (a broken optional install must not break detection)
        return False


FaceBackend = Callable[..., list[Box]]
_BACKENDS: dict[str, tuple[Callable[[], bool], FaceBackend]] = {
    "mediapipe": (_has_mediapipe, _mediapipe_faces),
    "haar": (lambda: True, haar_faces),
}


def available_backends() -> list[str]:
    """The face detectors usable here, best first; ``"haar"`` (OpenCV) is always last and always there."""
    return [name for name, (available, _) in _BACKENDS.items() if available()]


def _backend(name: str) -> FaceBackend:
    if name == "auto":
        name = getattr(_local, "auto", None) or available_backends()[0]
        _local.auto = name
    if name not in _BACKENDS:
        raise CropError(f"unknown face detector {name!r}; choose one of auto, {', '.join(_BACKENDS)}")
    available, function = _BACKENDS[name]
    if not available():
        raise CropError(f"face detector {name!r} is not installed; use 'auto' or 'haar'")
    return function


# -------------------------------------------------------------------------------------- the API
def detect_faces(image: np.ndarray, *, backend: str = "auto", max_side: int = MAX_SIDE,
                 min_size: float | None = None, max_size: float | None = None, thorough: bool = True) -> list[Box]:
    """Every face in ``image`` (RGB uint8 (H, W, 3) or gray (H, W)), largest first, as :class:`Box` in
    original pixels with the detector's score. ``backend``: ``"auto"`` (the best installed, see
    :func:`available_backends`), ``"haar"`` or ``"mediapipe"``. ``min_size``/``max_size``: the face
    sizes to look for, in pixels. ``thorough=False`` (for searches near a known face) skips the profile
    cascades when a frontal face is found. An image with no face gives ``[]``."""
    _check_image(image)
    function = _backend(backend)
    if function is haar_faces:
        boxes = haar_faces(image, max_side=max_side, min_size=min_size, max_size=max_size,
                           profile=True if thorough else "fallback")
    else:
        boxes = function(image)
    boxes = [b for b in boxes if (not min_size or max(b.w, b.h) >= min_size)
             and (not max_size or max(b.w, b.h) <= max_size)]
    return sorted(boxes, key=lambda b: -b.area)


def detect_people(image: np.ndarray, *, max_side: int = MAX_SIDE) -> list[Box]:
    """Every standing person in ``image`` (OpenCV's HOG people detector), largest first."""
    _check_image(image)
    return sorted(hog_people(image, max_side=max_side), key=lambda b: -b.area)


def detect(image: np.ndarray, target: str = "face", **options) -> list[Box]:
    """:func:`detect_faces` or :func:`detect_people`, by ``target`` (``"face"`` or ``"person"``)."""
    if target == "face":
        return detect_faces(image, **options)
    if target == "person":
        return detect_people(image, **{k: v for k, v in options.items() if k == "max_side"})
    raise CropError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
