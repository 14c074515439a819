"""Write docs/crop.jpg, the README's "Real footage" picture: a full-resolution photo beside the
``--crop auto --paste-back`` result.

The photo is scikit-image's ``astronaut`` on a larger canvas (880x560); the driving clip is the same
photo moving and turning slightly. The animation uses the bundled default model, which was trained on
synthetic figures, never on faces: the picture shows where the face is found, how it is framed and how
the result is blended back at full resolution, not the quality of a face model (use a published
``vox`` checkpoint for that). Run from the repository root:

    python scripts/make_crop_example.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

import fomm
from fomm.animation import Animator
from fomm.crop import CropOptions, detect_faces
from fomm.crop.animate import Animation, driving_crops, source_boxes

OUT = Path(__file__).resolve().parents[1] / "docs" / "crop.jpg"


def canvas(angle: float = 0.0, dx: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:560, :880].astype(np.float32)
    image = np.stack([xx / 880 * 90 + 70, yy / 560 * 60 + 80, np.full_like(xx, 120)], -1).astype(np.uint8)
    photo = Image.fromarray(data.astronaut()).rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(70, 80, 120))
    image[24:536, 184 + dx : 696 + dx] = np.asarray(photo)
    return image


def main() -> None:
    photo = canvas()
    driving = [canvas(angle=3 * np.sin(i / 3), dx=2 * i) for i in range(12)]
    model = fomm.load_model("default", device="cpu")
    options = CropOptions(size=model.config.frame_size)
    boxes = source_boxes(photo, "auto", options)
    crops = Animation.prepare(lambda crop: Animator(model, crop), photo, boxes, driving_crops(driving, options),
                                  options.size, paste_back=True)
    result = list(crops.stream(driving))[-1].image
    before = Image.fromarray(photo)
    draw = ImageDraw.Draw(before)
    face = detect_faces(photo)[0]
    draw.rectangle([face.x, face.y, face.right, face.bottom], outline=(0, 255, 0), width=3)
    box = boxes[0]
    draw.rectangle([box.x, box.y, box.right, box.bottom], outline=(255, 200, 0), width=3)
    picture = np.concatenate([np.asarray(before), np.full((560, 16, 3), 255, np.uint8), result], axis=1)
    OUT.parent.mkdir(exist_ok=True)
    Image.fromarray(picture).resize((picture.shape[1] // 2, 280), Image.Resampling.LANCZOS).save(OUT, quality=85)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
