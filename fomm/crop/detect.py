"""Finding faces and people in an image, offline, with what pip installs.

Faces: the libfacedetection CNN (a YuNet-family detector, BSD licence) as the ``yuface`` wheel,
weights compiled in, which also gives five landmarks per face (used to level a tilted face's crop);
it finds turned, tilted, small and dark faces that the cascades miss (``benchmarks/detectors.py``).
The floor, always there, is OpenCV's bundled Haar cascades (``opencv-python-headless`` 4.x ships
them): the frontal face cascade (``alt2``: on our tests it finds small faces the default one
misses, with fewer false positives) and the profile cascade run on the image and its mirror (it
only knows left-facing profiles). MediaPipe's BlazeFace is used when asked for and installed.
People: the HOG people detector for ``target="person"``. Nothing is downloaded.

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
def roll(landmarks: Sequence[float]) -> float:
    """A face's tilt in degrees from its landmarks (the eyes first: x0, y0, x1, y1, ...), the eye on the
    image's left first: positive where the eye line falls to the right (y grows down)."""
    x0, y0, x1, y1 = landmarks[:4]
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


YUNET_CONFIDENCE = 0.5  # libfacedetection's own default threshold
_yunet_lock = threading.Lock()  # the C library's buffers are not documented as thread-safe


def yunet_faces(image: np.ndarray, *, max_side: int = MAX_SIDE, confidence: float = YUNET_CONFIDENCE,
                **_: object) -> list[Box]:
    """Faces by libfacedetection's CNN (the ``yuface`` wheel), with their five landmarks; scores in [0, 1].

    The image is downscaled so its longer side is at most ``max_side`` (the library warns past 960)."""
    import yuface

    cv2 = _cv2()
    rgb = np.dstack([image] * 3) if image.ndim == 2 else image
    height, width = rgb.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(width * factor)), max(1, round(height * factor))),
                         interpolation=cv2.INTER_AREA)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # the network was trained on OpenCV's BGR images
    with _yunet_lock:
        scores, rects, points = yuface.detect(bgr, conf=confidence)
    back = 1.0 / factor
    boxes = []
    for score, rect, landmarks in zip(scores, rects, points, strict=True):
        x, y, w, h = (float(v) for v in rect)
        points = tuple(float(v) for v in landmarks[:10])
        box = Box(x, y, w, h, float(score) / 100, landmarks=points)  # the tilt: face_roll
        boxes.append(box.moved(0.0, 0.0, back))
    return non_max_suppression(boxes)


def _has_yunet() -> bool:
    try:
        import yuface  # noqa: F401
    except Exception:  # noqa: BLE001 (a broken optional install must not break detection)
        return False
    return True


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
    "yunet": (_has_yunet, yunet_faces),
    "mediapipe": (_has_mediapipe, _mediapipe_faces),
    "haar": (lambda: True, haar_faces),
}
DETECTORS = ("auto", "yunet", "haar", "mediapipe")  # what --detector accepts
_INSTALL = {  # how to get a detector that is not installed
    "yunet": "pip install 'yuface>=2023.5' (wheels for Python 3.6-3.11 on Linux x86-64 and Windows)",
    "mediapipe": "pip install 'mediapipe>=0.10.9,<0.10.22' (later releases no longer ship the face "
                 "detection model in the wheel)",
}


def available_backends() -> list[str]:
    """The face detectors usable here, best first (``auto`` takes the first): ``"yunet"`` when its wheel
    is installed, ``"mediapipe"`` when installed, and ``"haar"`` (OpenCV), always there and last."""
    return [name for name, (available, _) in _BACKENDS.items() if available()]


def check_detector(name: str) -> str:
    """``name`` if it is a face detector usable here, else :class:`CropError` saying what to install."""
    if name not in DETECTORS:
        raise CropError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")
    if name != "auto" and not _BACKENDS[name][0]():
        raise CropError(f"face detector {name!r} is not installed: {_INSTALL[name]}; or use --detector auto")
    return name


def _backend(name: str) -> FaceBackend:
    check_detector(name)
    if name == "auto":
        name = getattr(_local, "auto", None) or available_backends()[0]
        _local.auto = name
    return _BACKENDS[name][1]


# -------------------------------------------------------------------------------------- the API
def detect_faces(image: np.ndarray, *, backend: str = "auto", max_side: int = MAX_SIDE,
                 min_size: float | None = None, max_size: float | None = None, thorough: bool = True) -> list[Box]:
    """Every face in ``image`` (RGB uint8 (H, W, 3) or gray (H, W)), largest first, as :class:`Box` in
    original pixels with the detector's score (and landmarks where it gives them). ``backend``:
    ``"auto"`` (the best installed, see :func:`available_backends`), ``"yunet"``, ``"haar"`` or
    ``"mediapipe"``. ``min_size``/``max_size``: the face
    sizes to look for, in pixels. ``thorough=False`` (for searches near a known face) skips the profile
    cascades when a frontal face is found. An image with no face gives ``[]``."""
    _check_image(image)
    function = _backend(backend)
    if function is haar_faces:
        boxes = haar_faces(image, max_side=max_side, min_size=min_size, max_size=max_size,
                           profile=True if thorough else "fallback")
    else:
        boxes = function(image, max_side=max_side)
    boxes = [b for b in boxes if (not min_size or max(b.w, b.h) >= min_size)
             and (not max_size or max(b.w, b.h) <= max_size)]
    return sorted(boxes, key=lambda b: -b.area)


ROLL_TRIES = (-40.0, -20.0, 0.0, 20.0, 40.0)  # degrees: the CNN is surest and its landmarks right near upright


def face_roll(image: np.ndarray, box: Box, backend: str = "auto") -> float:
    """The tilt (roll, degrees, clockwise as shown) of the face in ``box``, for a detector that gives eye
    landmarks; 0 for one that gives none. The CNN's landmarks lag behind a tilt (on a face rolled by 30
    degrees they say 3), so the face's region is turned by a few angles, the one where the detector is
    surest kept, and its landmarks' residual tilt added."""
    side = 2.0 * max(box.w, box.h)
    scale = min(1.0, 192 / side)  # the face about 96 px: cheap, and well inside the CNN's range
    best: tuple[float, float] | None = None  # (score, roll)
    for angle in ROLL_TRIES:
        found = _turned_face(image, box, angle, side, scale, backend)
        if found == "no landmarks":
            return 0.0
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    if best is None:
        return box.angle
    refined = _turned_face(image, box, best[1], side, scale, backend)  # the residual tilt is now small
    return refined[1] if isinstance(refined, tuple) else best[1]


def _turned_face(image: np.ndarray, box: Box, angle: float, side: float, scale: float,
                 backend: str) -> tuple[float, float] | str | None:
    """(score, roll) of the face at the centre of ``box``'s region turned back by ``angle``."""
    cv2 = _cv2()
    cx, cy = box.center
    out = max(8, round(side * scale))
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[:, 2] += (out / 2 - cx, out / 2 - cy)
    region = cv2.warpAffine(np.ascontiguousarray(image), matrix, (out, out), flags=cv2.INTER_AREA,
                            borderMode=cv2.BORDER_REPLICATE)
    best = None
    for face in detect_faces(region, backend=backend, max_side=out):
        if face.landmarks is None:
            return "no landmarks"
        if face.contains(out / 2, out / 2) and (best is None or face.score > best[0]):
            best = (face.score, angle + roll(face.landmarks))
    return best


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
