"""Where a model draws a limb's color where the real frame has no limb, and why.

On `fomm synth` videos, each frame is reconstructed from the video's first frame (as `fomm reconstruct`
does) and each limb's pixels are found by color (the AKD/MKR measurement's rule) in the real and the
generated frame. A generated limb pixel more than 2 px from the real limb is "stray". The script
prints the share of stray pixels, how many of them lie where the limb was in the source frame (a
"ghost" left behind), and the occlusion map and the dense motion's displacement there, against the
background: docs/keypoint-collapse.md ("What is still missing") uses it.

    python scripts/stray_limb_pixels.py --checkpoint default --data HELD_OUT_DATASET
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_dilation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fomm.api import load_model  # noqa: E402
from fomm.data.datasets import FramesDataset  # noqa: E402
from fomm.data.synthetic import load_tracks  # noqa: E402
from fomm.evaluation.parts import part_masks  # noqa: E402
from fomm.io.frames import to_uint8  # noqa: E402
from fomm.models import make_coordinate_grid  # noqa: E402

MARGIN_PX = 2


class Tally:
    def __init__(self):
        self.generated = self.stray = self.stray_at_source = 0
        self.values: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, values: np.ndarray) -> None:
        self.values.setdefault(name, []).append(values.ravel())

    def summary(self, name: str) -> str:
        values = np.concatenate(self.values[name])
        return f"mean {values.mean():.2f}, median {np.median(values):.2f} ({values.size} px)"


def video_tally(model, video, tally: Tally) -> None:
    tracks = load_tracks(video.path.parent / f"{video.name}.tracks.json")
    colors = np.asarray(tracks.part_colors)
    real = torch.cat(list(video.batches(64)))
    size = real.shape[2:]
    with torch.no_grad():
        source = real[:1]
        out = model.generator.decode(model.generator.encode_source(source), source, model.kp_detector(real),
                                     model.kp_detector(source), visualize=False)
    occlusion = F.interpolate(out.occlusion_map, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()
    deformation = F.interpolate(out.deformation.permute(0, 3, 1, 2), size=size, mode="bilinear",
                                align_corners=False).permute(0, 2, 3, 1).numpy()
    # how far the dense motion fetches each pixel from, in pixels
    moved = np.linalg.norm(deformation - make_coordinate_grid(tuple(size)).numpy(), axis=-1) * (size[1] / 2)
    source_masks = part_masks(to_uint8(source)[0], colors)
    real_u8, generated_u8 = to_uint8(real), to_uint8(out.prediction)
    for t in range(1, len(real)):
        real_masks, generated_masks = part_masks(real_u8[t], colors), part_masks(generated_u8[t], colors)
        for k in range(1, len(colors)):  # the limbs (part 0 is the torso)
            stray = generated_masks[k] & ~binary_dilation(real_masks[k], iterations=MARGIN_PX)
            tally.generated += int(generated_masks[k].sum())
            tally.stray += int(stray.sum())
            tally.stray_at_source += int((stray & binary_dilation(source_masks[k])).sum())
            tally.add("occlusion, stray", occlusion[t][stray])
            tally.add("displacement px, stray", moved[t][stray])
        background = ~binary_dilation(real_masks.any(0) | source_masks.any(0), iterations=3)
        tally.add("occlusion, background", occlusion[t][background])
        tally.add("displacement px, background", moved[t][background])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--data", required=True, type=Path, help="a fomm synth dataset (its test/ split)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.checkpoint)
    dataset = FramesDataset(args.data, (model.config.frame_size,) * 2 + (3,), is_train=False)
    tally = Tally()
    for i in range(len(dataset)):
        video_tally(model, dataset.video(i), tally)
    print(f"{args.checkpoint} on {len(dataset)} videos: {tally.stray} of {tally.generated} generated limb pixels "
          f"are more than {MARGIN_PX} px from the real limb ({tally.stray / tally.generated:.1%}); "
          f"{tally.stray_at_source / max(tally.stray, 1):.1%} of those lie where the limb was in the source frame")
    for name in tally.values:
        print(f"  {name}: {tally.summary(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
