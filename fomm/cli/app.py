"""``fomm app``: the web app (gradio, the optional extra ``fomm[app]``) on localhost."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from .common import add_precision_argument, device_from_arg, positive_float, positive_int, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("app", help="a web app: animate in the browser (needs fomm[app])",
                       description="Serve a web page (gradio) where a source image is animated with a driving video: "
                       "the bundled example preloaded, the checkpoints given here to choose from, progress, result "
                       "and keypoint videos to play and download. Jobs run one at a time from a queue. The same "
                       "endpoint answers gradio_client (see the README).")
    p.add_argument("--checkpoint", action="append", default=[], metavar="PATH",
                   help="a checkpoint to offer besides the bundled model (repeat for several)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    p.add_argument("--port", type=positive_int, default=7860, help="port (default 7860)")
    p.add_argument("--share", choices=("no", "yes"), default="no",
                   help="yes: also open a public gradio.live link (needs internet; default no)")
    p.add_argument("--device", help="cpu, cuda, mps; default: CUDA, then MPS, then CPU")
    add_precision_argument(p)
    p.add_argument("--max-upload-mb", type=positive_float, default=100, metavar="MB",
                   help="largest upload accepted (default 100)")
    p.add_argument("--queue-size", type=positive_int, default=16, metavar="N",
                   help="jobs that may wait in line; more are refused until one finishes (default 16)")
    p.set_defaults(func=run)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from ..app import ModelCache, WorkFolder, checkpoint_choices
    from ..precision import resolve_precision

    with user_errors():
        choices = checkpoint_choices(args.checkpoint)
    device = device_from_arg(args.device)
    with user_errors():
        resolve_precision(args.precision, device or "cpu")  # refused now, not at the first job
    work = WorkFolder()
    # Before gradio is imported (it reads them once): uploads and results go to our folder, removed on
    # exit; no usage statistics are sent.
    os.environ["GRADIO_TEMP_DIR"] = str(work.root / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop cleans up like Ctrl-C
    app = None
    try:
        with user_errors():
            from ..app import ui  # gradio: raises AppError naming the extra when it is missing

            app = ui.build_app(ModelCache(choices, device=device, precision=args.precision), work)
            url = ui.launch(app, host=args.host, port=args.port, share=args.share == "yes",
                            max_upload_mb=args.max_upload_mb, queue_size=args.queue_size)
        print(f"fomm app: serving on {url} (Ctrl-C to stop)", flush=True)
        if app.share_url:
            print(f"fomm app: public link {app.share_url}", flush=True)
        while app.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if app is not None:
            app.close()
        work.cleanup()
    print("fomm app: stopped", file=sys.stderr)
    return 0
