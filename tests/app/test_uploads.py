"""The app's source-image field hands uploads to the job unopened: fomm's reader, not Pillow's bomb check
in gradio, judges their size (and says so in fomm's words, see test_browser.py's hostile uploads)."""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.test_limits import png_header_only

gr = pytest.importorskip("gradio")
ui = pytest.importorskip("fomm.app.ui")
ImageData = pytest.importorskip("gradio.data_classes").ImageData


def _field():
    return ui._lenient(gr.Image(type="filepath", image_mode=None))


def test_an_upload_under_fomms_limit_but_over_pillows_warns_nothing(tmp_path):
    # 95 MP: under fomm's 100 MP limit, over Pillow's 89 MP warning threshold
    path = png_header_only(tmp_path / "large.png", 10000, 9500)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _field().preprocess(ImageData(path=str(path), orig_name="large.png")) == str(path)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)], caught


def test_an_inline_image_is_still_decoded_into_a_file(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 20, 30)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    field = _field()
    field.GRADIO_CACHE = str(tmp_path)
    saved = Path(field.preprocess(ImageData(url=url, path="inline.png")))
    assert saved.exists() and Image.open(saved).size == (4, 3)
