"""The README's screenshot of ``fomm app``: the bundled example animated in headless Chromium.

    python scripts/app_screenshot.py docs/app.png

Starts ``fomm app`` on a free port, presses Animate on the preloaded example, waits for the result,
saves the page as a palette PNG, and stops the server. Needs ``fomm[app,browser-test]`` and Debian's
``chromium``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

from PIL import Image
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "fomm", "app", "--port", str(port)], stdout=subprocess.PIPE,
                              text=True)
    try:
        for line in server.stdout:
            if "serving on" in line:
                break
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#animate").click()
            page.get_by_text("frames at").wait_for(timeout=300_000)
            page.wait_for_function("[...document.querySelectorAll('#result video, #overlay video')]"
                                   ".every(v => v.readyState >= 2)", timeout=60_000)
            page.screenshot(path=args.output, full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait()
    Image.open(args.output).convert("RGB").quantize(128).save(args.output, optimize=True)
    print(args.output)


if __name__ == "__main__":
    main()
