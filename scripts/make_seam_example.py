"""docs/seam.jpg: paste-back's seam before and after colour matching, with each half's seam error.

    python scripts/make_seam_example.py

The "animation" is the photo's own crop lit differently (darker on the left, brighter on the right,
as when a face checkpoint renders the light of its driving video), pasted back into the photo:
left with a hard edge and no colour matching, right with the defaults (colour field measured in the
feather band, feather sized to the face). Prints both seam errors (fomm.crop.image.seam_error)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fomm.crop import detect_faces  # noqa: E402
from fomm.crop.image import PasteBack, crop_square  # noqa: E402
from fomm.crop.track import CropOptions  # noqa: E402
from tests.crop.scenes import transformed  # noqa: E402


def main() -> None:
    photo, _, _ = transformed("astronaut", canvas=(300, 360), face_px=80)
    face = detect_faces(photo)[0]
    box = CropOptions().crop_box(face, photo.shape[1], photo.shape[0])
    crop = crop_square(photo, box, 256).astype(np.float32)
    lit = np.clip(crop * np.linspace(0.75, 1.15, 256)[None, :, None] + 12, 0, 255).astype(np.uint8)
    before, after = PasteBack(photo, box, feather=0.0, color="off"), PasteBack(photo, box, face=face)
    frames = [before(lit), after(lit)]
    errors = [before.seam_error(frames[0]), after.seam_error(frames[1])]
    out = REPO / "docs" / "seam.jpg"
    Image.fromarray(np.hstack([frames[0], np.full((photo.shape[0], 8, 3), 255, np.uint8), frames[1]])).save(
        out, quality=90)
    print(f"wrote {out}: seam error before {errors[0]:.3f}, after {errors[1]:.3f}")


if __name__ == "__main__":
    main()
