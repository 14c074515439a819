"""``fomm synth``: the split, the frames, determinism from the seed, no overwrite."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from fomm.cli import main


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth(tmp_path, capsys):
    argv = ["--videos", "5", "--frames", "3", "--size", "32", "--seed", "7", "--test-fraction", "0.4"]
    assert main(["synth", str(tmp_path / "a"), *argv]) == 0
    assert capsys.readouterr().out.startswith("3 train + 2 test videos, 15 frames in ")
    for split, count in (("train", 3), ("test", 2)):
        videos = sorted(p for p in (tmp_path / "a" / split).iterdir() if p.is_dir())
        assert len(videos) == count
        for video in videos:
            frames = sorted(video.glob("*.png"))
            assert len(frames) == 3 and np.asarray(Image.open(frames[0])).shape == (32, 32, 3)
            assert (video.parent / f"{video.name}.tracks.json").exists()
    assert main(["synth", str(tmp_path / "b"), *argv]) == 0
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")  # deterministic from the seed
    assert main(["synth", str(tmp_path / "c"), *argv[:-4], "--seed", "8", "--test-fraction", "0.4"]) == 0
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")
    capsys.readouterr()
    assert main(["synth", str(tmp_path / "a"), *argv]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
