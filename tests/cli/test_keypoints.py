"""``fomm keypoints``: CSV/JSON output in pixels of the original input, overlays, and refusals."""

from __future__ import annotations

import csv
import io
import json

import av
import numpy as np
import pytest
import torch
from PIL import Image

import fomm.cli.common as cli_common
from fomm.animation import keypoints_to_pixels
from fomm.cli import main
from fomm.io import prepare_frame, read_image, to_tensor
from tests.animation.helpers import SIZE
from tests.media import make_image, make_video


def _run(*argv) -> int:
    return main(["keypoints", *map(str, argv)])


def _expected(model, image: np.ndarray, fit: str) -> np.ndarray:
    """The detector's keypoints mapped by hand: normalized [-1, 1] spans the model's square; the square
    is the center crop (or the padded frame) of the original; integer pixel = pixel center."""
    with torch.no_grad():
        kp = model.kp_detector(to_tensor(prepare_frame(image, SIZE, fit))).value[0].double().numpy()
    height, width = image.shape[:2]
    side = min(height, width) if fit == "crop" else max(height, width)
    sign = 1 if fit == "crop" else -1
    left, top = sign * (abs(width - side) // 2), sign * (abs(height - side) // 2)
    return (kp + 1) / 2 * side + np.array([left, top]) - 0.5


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_image_csv_in_original_pixels(model, checkpoint, tmp_path, capsys, fit):
    image_path = make_image(tmp_path / "wide.png", size=(96, 40))
    assert _run(image_path, "--checkpoint", checkpoint, "--fit", fit, "--precision", "fp32") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["frame", "kp", "x", "y"]
    values = np.array([[float(x), float(y)] for _, _, x, y in rows[1:]])
    assert [r[:2] for r in rows[1:]] == [["0", str(k)] for k in range(10)]
    np.testing.assert_allclose(values, _expected(model, read_image(image_path), fit), atol=2e-3)


@pytest.mark.parametrize("fit", ["crop", "pad"])
@pytest.mark.parametrize("shape", [(40, 96), (96, 40)])
def test_pixel_mapping_finds_a_dot_again(fit, shape):
    """A bright dot at a known place of the original: its position in the model's frame, mapped back
    with keypoints_to_pixels, lands on the dot."""
    height, width = shape
    image = np.zeros((height, width, 3), np.uint8)
    y0, x0 = int(height * 0.4), int(width * 0.55)
    image[y0 - 1 : y0 + 2, x0 - 1 : x0 + 2] = 255  # 3x3 block centered on pixel (x0, y0)
    frame = prepare_frame(image, SIZE, fit).astype(float).sum(-1)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    j, i = (frame * cols).sum() / frame.sum(), (frame * rows).sum() / frame.sum()  # centroid, pixel centers
    normalized = (np.array([j, i]) + 0.5) / SIZE * 2 - 1
    np.testing.assert_allclose(keypoints_to_pixels(normalized, shape, SIZE, fit), [x0, y0], atol=0.1)


def test_video_json_and_overlay(checkpoint, model, tmp_path, capsys):
    video = make_video(tmp_path / "clip.mp4", n=5, size=(64, 48))
    out, overlay = tmp_path / "kp.json", tmp_path / "overlay.mp4"
    assert _run(video, "--checkpoint", checkpoint, "-o", out, "--overlay", overlay) == 0
    assert capsys.readouterr().out.startswith("5 frames in ")
    data = json.loads(out.read_text())
    assert [f["frame"] for f in data["frames"]] == list(range(5))
    first = data["frames"][0]
    assert (first["width"], first["height"]) == (64, 48) and data["num_kp"] == 10
    assert np.array(first["keypoints"]).shape == (10, 2) and np.array(first["jacobians"]).shape == (10, 2, 2)
    with av.open(str(overlay)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (64, 48)  # drawn on the original frames
        assert sum(1 for _ in container.decode(stream)) == 5


def test_image_overlay(checkpoint, tmp_path):
    image = make_image(tmp_path / "src.png", size=(50, 70), mode="RGBA")
    out, overlay = tmp_path / "kp.csv", tmp_path / "dots.png"
    assert _run(image, "--checkpoint", checkpoint, "-o", out, "--overlay", overlay) == 0
    assert len(out.read_text().splitlines()) == 11
    drawn = np.asarray(Image.open(overlay))
    assert drawn.shape == (70, 50, 3) and (drawn != read_image(image)).any()


@pytest.mark.parametrize(("case", "message"), [
    ("txt", "unsupported extension"),
    ("exists", "--overwrite"),
    ("overlay kind", "overlay must be one too"),
    ("missing", "not found"),
])
def test_refusals(tmp_path, capsys, monkeypatch, case, message):
    monkeypatch.setattr(cli_common, "load_model", lambda *a, **k: pytest.fail("model loaded before the checks"))
    video = make_video(tmp_path / "clip.mp4", n=3, size=(64, 48))
    (tmp_path / "old.csv").write_text("keep")
    argv = {"txt": [video, "-o", tmp_path / "kp.txt"],
            "exists": [video, "-o", tmp_path / "old.csv"],
            "overlay kind": [video, "--overlay", tmp_path / "dots.png"],
            "missing": [tmp_path / "nope.mp4", "-o", tmp_path / "kp.csv"]}[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _run(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fomm keypoints: error: ") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before and (tmp_path / "old.csv").read_text() == "keep"
