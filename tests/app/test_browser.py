"""``fomm app`` end to end: the server in a subprocess, driven by headless Chromium (Playwright) as a
person would, and by ``gradio_client`` as a script would; then stopped, leaving no temporary files.

"""

from __future__ import annotations

import importlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fomm.io import VideoReader, read_video
from tests.media import make_image, make_video


def _require(module: str, extra: str):
    """The module, or a skip naming the extra; in CI (which installs every extra) a failure instead."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed: pip install -e '.[{extra}]'", allow_module_level=True)


_require("gradio", "app")
playwright = _require("playwright.sync_api", "browser-test")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("Debian's chromium is missing: apt-get install chromium")
    pytest.skip("Debian's chromium is missing: apt-get install chromium", allow_module_level=True)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 240  # seconds: importing torch and gradio on a busy 2-core machine
FRAMES, FPS = 8, 10
UPLOAD_LIMIT_MB = 0.1  # the test media are smaller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n")
    big = folder / "big.mp4"
    big.write_bytes(np.random.default_rng(0).bytes(int(2 * UPLOAD_LIMIT_MB * 2**20)))
    (folder / "notes.png").write_text("this is not an image\n")
    from PIL import Image

    Image.new("1", (13000, 13000)).save(folder / "huge.png")  # 20 KB, 169 MP: over fomm's pixel limit
    return {"source": make_image(folder / "face.png", size=(80, 60)),
            "clip": make_video(folder / "clip.mp4", n=FRAMES, fps=FPS, audio=True),
            "long": make_video(folder / "long.mp4", n=30, fps=FPS),
            "text": text, "big": big, "text_png": folder / "notes.png", "huge": folder / "huge.png"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``fomm app`` on a free port, with its temporary folder inside ``tmp``."""
    tmp = tmp_path_factory.mktemp("server-tmp")
    stale = tmp / "fomm-app-stale"  # the files of a killed server: its lock file, held by no one
    (stale / "job-00000001-x").mkdir(parents=True)
    (stale / "job-00000001-x" / "upload.mp4").write_bytes(b"a user's clip")
    (stale / ".fomm-app.lock").write_bytes(b"")
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "fomm", "app", "--port", str(port), "--device", "cpu",
                                "--max-upload-mb", str(UPLOAD_LIMIT_MB)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    deadline, log = time.monotonic() + START_TIMEOUT, []
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            pytest.fail(f"fomm app did not start in {START_TIMEOUT} s: {''.join(log)}")
        log.append(line)
        if "serving on" in line:
            break
    url = line.split("serving on ")[1].split()[0]
    assert url == f"http://127.0.0.1:{port}/"  # localhost unless told otherwise
    yield {"url": url, "process": process, "tmp": tmp, "log": log, "lines": lines}
    if process.poll() is None:
        process.kill()


def video_facts(path: Path) -> tuple[int, float, bool, tuple]:
    with VideoReader(path) as video:
        frames = list(video)
        return len(frames), video.fps, video.has_audio, frames[0].shape


def test_page_animates_an_upload_and_shows_bad_uploads_as_clear_messages(server, media, tmp_path):
    url = server["url"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        outside = []  # the page must work offline: every request goes to the app itself
        page.on("request", lambda r: r.url.startswith(("data:", "blob:", url)) or outside.append(r.url))
        page.goto(url)
        page.locator("#animate").wait_for(timeout=60_000)
        # The bundled example is preloaded; replace it with our uploads.
        for box, path in (("#source", media["source"]), ("#driving", media["clip"])):
            page.locator(f"{box} button[aria-label='Remove Image'], {box} button[aria-label='Clear']").click()
            page.locator(f"{box} input[type=file]").set_input_files(str(path))
        page.locator("#driving video").wait_for(timeout=30_000)
        page.locator("#animate").click()
        page.get_by_text(f"{FRAMES} frames at {FPS} fps").wait_for(timeout=120_000)
        for name in ("result", "overlay"):
            src = page.locator(f"#{name} video").get_attribute("src")
            (tmp_path / f"{name}.mp4").write_bytes(page.request.get(src).body())
        assert video_facts(tmp_path / "result.mp4") == (FRAMES, FPS, True, (64, 64, 3))
        assert video_facts(tmp_path / "overlay.mp4")[:2] == (FRAMES, FPS)

        # The video player may show a Clear button of its own beside the box's (two match): click the box's.
        page.locator("#driving button[aria-label='Clear']").first.click()
        page.locator("#driving input[type=file]").set_input_files(str(media["text"]))
        page.locator("#animate").click()
        message = page.get_by_text("cannot open notes.mp4 as a video")
        message.wait_for(timeout=60_000)
        assert "re-download or re-encode it" in message.inner_text()
        assert "Traceback" not in page.inner_text("body")
        page.locator("#driving button[aria-label='Clear']").first.click()
        page.locator("#driving input[type=file]").set_input_files(str(media["big"]))
        page.get_by_text("exceed the maximum allowed size").wait_for(timeout=30_000)
        browser.close()
    assert outside == []


def test_gradio_client_calls_the_same_endpoint_and_can_cancel(server, media, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server["url"], verbose=False, download_files=str(tmp_path))
    # A long job, cancelled once it runs: its half-written videos are discarded.
    job = client.submit(handle_file(media["source"]), handle_file(media["long"]), api_name="/animate")
    deadline = time.monotonic() + 120
    while not any("animating" in str(out) for out in job.outputs()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.cancel() or job.done()
    video, overlay, summary = client.predict(handle_file(media["source"]), handle_file(media["clip"]),
                                             "default (bundled)", "relative", False, False, api_name="/animate")
    assert summary.startswith(f"{FRAMES} frames at {FPS} fps")
    assert video_facts(Path(video)) == (FRAMES, FPS, True, (64, 64, 3))
    assert read_video(overlay).shape == (FRAMES, 64, 192, 3)
    assert not np.isnan(read_video(video)).any()
    with pytest.raises(AppError, match="cannot open notes.mp4 as a video"):
        client.predict(handle_file(media["source"]), handle_file(media["text"]), api_name="/animate")
    with pytest.raises(AppError, match="adapt scale scales relative motion"):
        client.predict(handle_file(media["source"]), handle_file(media["clip"]), "default (bundled)", "absolute",
                       True, False, api_name="/animate")
    # Paste-back through the endpoint: the result has the photo's size (80x60), not the model's.
    video, _, _ = client.predict(handle_file(media["source"]), handle_file(media["clip"]), "default (bundled)",
                                 "relative", False, False, "none", True, "face", api_name="/animate")
    assert video_facts(Path(video)) == (FRAMES, FPS, True, (60, 80, 3))
    with pytest.raises(AppError, match="no face found in the source photo.*choose crop: none"):
        client.predict(handle_file(media["source"]), handle_file(media["clip"]), "default (bundled)", "relative",
                       False, False, "auto", False, "face", api_name="/animate")
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(media["source"]), handle_file(media["big"]), api_name="/animate")
    partial = list(server["tmp"].glob("fomm-app-*/job-*/.*partial*"))
    assert partial == []


def _file(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def _call(url: str, data: list) -> str:
    """The server-sent events of one call of the endpoint, as text."""
    import httpx

    event = httpx.post(f"{url}gradio_api/call/{API}", json={"data": data}, timeout=30).json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{API}/{event}", timeout=120).text


API = "animate"


def _log(server, text: str) -> str:
    lines = [text]
    while not server["lines"].empty():
        lines.append(server["lines"].get())
    return "".join(lines)


def test_hostile_uploads_get_fomms_messages(server, media, tmp_path):
    import httpx
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    assert not (server["tmp"] / "fomm-app-stale").exists()  # removed at start
    assert any("did not stop cleanly" in line for line in server["log"])
    client = Client(server["url"], verbose=False, download_files=str(tmp_path))
    for name, message in (("text_png", "cannot read notes.png as an image"),
                          ("clip", "clip.mp4 is a video; give a still image as the source"),
                          ("huge", r"huge.png \(13000x13000\): 169,000,000 pixels is over fomm's limit")):
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(media[name]), handle_file(media["clip"]), api_name="/animate")
    # A folder of the upload cache named as the driving video (a request may name any path in there).
    upload = server["url"] + "gradio_api/upload"
    source = httpx.post(upload, files=[("files", ("face.png", media["source"].read_bytes()))], timeout=30).json()[0]
    folder = Path(source).parent  # the upload's own folder: a frame folder of one image, to fomm animate
    events = _call(server["url"], [_file(source), _file(folder), "default (bundled)", "relative", False, False,
                                    "none", False, "face"])
    assert "event: error" in events and "is a folder; upload a video file" in events, _log(server, events)
    # The upload limit holds for a request's files together, not only for each one.
    part = np.random.default_rng(1).bytes(int(0.6 * UPLOAD_LIMIT_MB * 2**20))
    reply = httpx.post(upload, files=[("files", ("a.mp4", part)), ("files", ("b.mp4", part))], timeout=30)
    assert reply.status_code == 413 and "--max-upload-mb" in reply.text
    reply = httpx.post(upload, content=iter([part]), timeout=30,  # chunked: no length to check
                       headers={"content-type": "multipart/form-data; boundary=x"})
    assert reply.status_code == 411
    assert not list(server["tmp"].rglob("a.mp4")) and not list(server["tmp"].rglob("b.mp4"))
    assert httpx.post(upload, files=[("files", ("a.mp4", part))], timeout=30).status_code == 200


def test_stopping_the_server_removes_its_files(server):
    assert list(server["tmp"].glob("fomm-app-*/job-*"))  # jobs ran in there
    server["process"].send_signal(signal.SIGTERM)
    assert server["process"].wait(timeout=60) == 0
    assert list(server["tmp"].iterdir()) == []
