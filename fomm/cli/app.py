"""``fomm app``: the web app (gradio, the optional extra ``fomm[app]``) on localhost."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import time

from .common import (
    CLIError,
    add_precision_argument,
    device_from_arg,
    port_number,
    positive_float,
    positive_int,
    user_errors,
)


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
    p.add_argument("--port", type=port_number, default=7860, help="port (default 7860)")
    p.add_argument("--share", choices=("no", "yes"), default="no",
                   help="yes: also open a public gradio.live link (needs internet; default no)")
    p.add_argument("--device", help="cpu, cuda, mps; default: CUDA, then MPS, then CPU")
    add_precision_argument(p)
    p.add_argument("--max-upload-mb", type=positive_float, default=100, metavar="MB",
                   help="largest upload accepted, all the files of one request together (default 100)")
    p.add_argument("--queue-size", type=positive_int, default=16, metavar="N",
                   help="jobs that may wait in line; more are refused until one finishes (default 16)")
    p.set_defaults(func=run)


def check_address(host: str, port: int) -> None:
    """Refuse now, before the web stack is imported, an address the server could not listen on (gradio
    would say it after a wait, with a traceback)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise CLIError(f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine only) "
                       "or 0.0.0.0 (the network)") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is no use
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CLIError(f"port {port} on {host} is in use (another server?); choose another with --port N") \
                    from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise CLIError(f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine "
                               "only) or 0.0.0.0 (the network)") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise CLIError(f"port {port} needs administrator rights (ports below 1024 do); choose another "
                               "with --port N") from None
            raise


def run(args: argparse.Namespace) -> int:
    from ..app import ModelCache, WorkFolder, checkpoint_choices
    from ..precision import resolve_precision

    check_address(args.host, args.port)
    with user_errors():
        choices = checkpoint_choices(args.checkpoint)
    device = device_from_arg(args.device)
    with user_errors():
        resolve_precision(args.precision, device or "cpu")  # refused now, not at the first job
    stale = WorkFolder.remove_stale()
    if stale:
        print(f"fomm app: removed the files of {len(stale)} server(s) that did not stop cleanly", file=sys.stderr)
    work = WorkFolder()
    # Before gradio is imported (it reads them once): uploads and results go to our folder, removed on
    # exit; no usage statistics are sent.
    os.environ["GRADIO_TEMP_DIR"] = str(work.root / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # SIGTERM and SIGHUP stop the server as Ctrl-C does: fomm.cli.main raises them as KeyboardInterrupt.
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
