"""Write the demo's bundled inputs: fomm/assets/source.png and fomm/assets/driving.mp4.

Both come from `fomm synth`'s generator with seeds outside the training set (which uses seed 0), with
the bundled model's training setting (`--limb-swing 2`): the source is the first frame of one figure,
the driving clip another figure's motion, so the demo shows motion transfer between two different
figures. Run from the repository root:

    python scripts/make_demo_assets.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from fomm.data.synthetic import SyntheticConfig, generate_video
from fomm.io import VideoWriter

ASSETS = Path(__file__).resolve().parents[1] / "fomm" / "assets"
SEED = 2026
LIMB_SWING = 2.0  # as the bundled model's training data (README)


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    source = generate_video((SEED, 0), SyntheticConfig(size=64, num_frames=1, limb_swing=LIMB_SWING)).frames[0]
    Image.fromarray(source).save(ASSETS / "source.png")
    driving = generate_video((SEED, 1), SyntheticConfig(size=64, num_frames=100, limb_swing=LIMB_SWING)).frames
    with VideoWriter(ASSETS / "driving.mp4", fps=25, overwrite=True, crf=12) as writer:
        writer.write_batch(driving)
    print(f"wrote {ASSETS / 'source.png'} and {ASSETS / 'driving.mp4'} ({len(driving)} frames)")


if __name__ == "__main__":
    main()
