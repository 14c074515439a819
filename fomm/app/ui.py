"""The page of ``fomm app``: a gradio Blocks UI over :mod:`fomm.app.jobs`. The only module that imports
gradio (the optional extra ``fomm[app]``).

One endpoint, ``/animate`` (source image, driving video, checkpoint, mode, adapt scale, best frame, crop,
paste back, target -> result video, keypoint overlay video, summary), serves the page and ``gradio_client`` alike. Jobs
run one at a time from a queue (one model in memory); a running job can be cancelled between two
frames. Errors in the inputs are shown in the page as the CLI's one-line messages.
"""

from __future__ import annotations

import html
import logging
from contextlib import closing
from importlib import resources
from pathlib import Path

from ..crop import TARGETS
from ..crop.animate import CROPS
from ..errors import FommError
from .jobs import AnimationJob, AppError, JobOptions, ModelCache, WorkFolder

try:
    import gradio as gr
except ModuleNotFoundError as exc:  # pragma: no cover (the extra is installed wherever tests run)
    if exc.name != "gradio":
        raise
    raise AppError("the web app needs gradio: pip install 'fomm[app]'") from None

logger = logging.getLogger(__name__)

API_NAME = "animate"
STAGES = {"model": "loading the model", "tracking": "finding the subject in the driving video",
          "best frame": "finding the best frame", "animate": "animating"}


def bundled_example() -> tuple[Path, Path]:
    """The bundled model's demo: a source image and a driving clip (what ``fomm demo`` animates)."""
    assets = Path(str(resources.files("fomm") / "assets"))
    return assets / "source.png", assets / "driving.mp4"


def _shown(exc: BaseException) -> gr.Error:
    """A message box with the error's one-line message, never a stack trace (markup escaped; quotes kept, as
    gradio_client shows them too)."""
    return gr.Error(html.escape(str(exc), quote=False), duration=None, title="fomm", print_exception=False)


def _lenient(image: gr.Image) -> gr.Image:
    """``image`` (a ``type="filepath"`` one), passing every uploaded file on to the job as its path, unopened:
    the job's reader judges it under fomm's own pixel limit and says what is wrong (a text file, a video,
    an image over the limit) in fomm's words, instead of gradio's generic "error" box, and Pillow's
    DecompressionBombWarning (raised from 89 MP, under fomm's 100 MP limit) never reaches the server's log.
    Inline (data: URL) images still go through gradio. (Wrapped, not subclassed: gradio writes a .pyi
    beside every subclass's module.)"""
    preprocess = image.preprocess

    def lenient(payload):
        path = getattr(payload, "path", None)
        if path is None or (getattr(payload, "url", None) or "").startswith("data:"):
            return preprocess(payload)  # nothing uploaded, or an inline image that gradio decodes into a file
        return str(path)  # what gradio's preprocess returns for a file, once Pillow has opened it

    image.preprocess = lenient
    return image


class UploadLimit:
    """ASGI middleware: a request body (all its files together: gradio checks each file alone) over
    ``limit`` bytes is refused with 413 before it is read, one without a length (chunked) with 411."""

    SLACK = 16 << 10  # the multipart boundaries and headers around the files

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope["headers"]).get(b"content-length", b"")
            refusal = None
            if not length.isdigit():
                refusal = 411, "a request body needs a Content-Length"
            elif int(length) > self.limit + self.SLACK:
                refusal = 413, (f"the files of one request exceed the maximum allowed size of "
                                f"{self.limit / 2**20:g} MB (fomm app --max-upload-mb)")
            if refusal:
                await send({"type": "http.response.start", "status": refusal[0],
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": refusal[1].encode()})
                return
        await self.app(scope, receive, send)


def mode_choices(models: ModelCache, label: str, current: str | None) -> dict:
    """The mode radio for checkpoint ``label``: only its modes, the current one kept when offered, else
    the family's default (its published demo's)."""
    choice = models.choices[label]
    return gr.update(choices=list(choice.modes), value=current if current in choice.modes else choice.default_mode)


def build_app(models: ModelCache, work: WorkFolder, *, examples: bool = True) -> gr.Blocks:
    """The Blocks app; launch it with :func:`launch` (which sets up the queue and the limits)."""
    source_example, driving_example = bundled_example()

    def animate(source, driving, checkpoint, mode, adapt_scale, best_frame, crop="none", paste_back=False,
                target="face", progress=gr.Progress()):  # noqa: B008 (gradio's idiom)
        try:
            options = JobOptions(checkpoint=checkpoint, mode=mode, adapt_scale=bool(adapt_scale),
                                 best_frame=bool(best_frame), crop=crop, paste_back=bool(paste_back), target=target)
            job = AnimationJob(models, source, driving, options, work.new_job())
            with closing(job.run()) as steps:  # closed by gradio on cancel: the writers discard their files
                for step in steps:
                    what = STAGES.get(step.stage, step.stage)
                    progress((step.done, step.total) if step.total else None, desc=what, unit="frames")
                    yield gr.skip(), gr.skip(), f"{what}: {step.done}/{step.total or '?'}"
        except FommError as exc:
            raise _shown(exc) from None
        except gr.Error:
            raise
        except Exception as exc:  # a bug: the page gets one line, the server log the traceback
            logger.exception("animation failed")
            raise _shown(RuntimeError(f"unexpected {type(exc).__name__}: {exc} (see the server log)")) from None
        result = job.result
        yield str(result.video), str(result.overlay), result.summary()

    with gr.Blocks(title="fomm: animate a photo", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        gr.Markdown("## fomm: animate a photo with the motion of a driving video\n"
                    "First Order Motion Model. Upload a source image and a driving clip (or keep the bundled "
                    "example), choose the options, press **Animate**.")
        with gr.Row():
            source = _lenient(gr.Image(label="source image", type="filepath", image_mode=None,
                                       sources=["upload", "clipboard"],
                                       value=str(source_example) if examples else None, height=256, elem_id="source"))
            driving = gr.Video(label="driving video", sources=["upload"], include_audio=True,
                               value=str(driving_example) if examples else None, height=256, elem_id="driving")
        with gr.Row():
            first = models.choices[models.labels[0]]
            checkpoint = gr.Dropdown([(c.title, c.label) for c in models.choices.values()], value=first.label,
                                     label="checkpoint (family: modes)", elem_id="checkpoint")
            mode = gr.Radio(list(first.modes), value=first.default_mode, label="mode", elem_id="mode",
                            info="relative: the driving motion from its first frame, applied to the source pose; "
                                 "absolute: the driving pose itself; avd: the source's shape in the driving pose")
            adapt_scale = gr.Checkbox(label="adapt scale", info="scale the motion by the ratio of the poses' sizes")
            best_frame = gr.Checkbox(label="best frame",
                                     info="start from the driving frame whose pose best matches the source")
        with gr.Row():
            crop = gr.Radio(list(reversed(CROPS)), value="none", label="crop (real footage)", elem_id="crop",
                            info="auto: find the subject in the photo and the clip, crop both like the training data")
            paste_back = gr.Checkbox(label="paste back", elem_id="paste-back",
                                     info="put the animated crop back into the full-resolution photo")
            target = gr.Dropdown(list(TARGETS), value="face", label="subject", elem_id="target",
                                 info="what crop auto looks for")
        with gr.Row():
            run = gr.Button("Animate", variant="primary", elem_id="animate")
            cancel = gr.Button("Cancel", variant="stop", elem_id="cancel")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            result = gr.Video(label="result", interactive=False, height=256, elem_id="result")
            overlay = gr.Video(label="keypoints: source | driving | result", interactive=False, height=256,
                               elem_id="overlay")
        if examples:
            gr.Examples([[str(source_example), str(driving_example)]], inputs=[source, driving],
                        label="bundled example (the default model's demo)")
        checkpoint.change(lambda label, current: mode_choices(models, label, current), [checkpoint, mode], mode,
                          queue=False, api_visibility="private")
        inputs = [source, driving, checkpoint, mode, adapt_scale, best_frame, crop, paste_back, target]
        event = run.click(animate, inputs, [result, overlay, status], api_name=API_NAME, concurrency_limit=1,
                          concurrency_id="model")
        cancel.click(lambda: "cancelled", None, status, cancels=[event], queue=False, api_visibility="private")
    return app


def launch(app: gr.Blocks, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           max_upload_mb: float = 100, queue_size: int = 16) -> str:
    """Start serving in a background thread and return the local URL; the caller blocks (or closes).

    Jobs wait in a queue of ``queue_size`` and run one at a time; uploads over ``max_upload_mb`` are
    refused by the server. Analytics are off; nothing is fetched from the internet unless ``share``.
    """
    from starlette.middleware import Middleware

    assets = Path(str(resources.files("fomm") / "assets"))
    limit = int(max_upload_mb * 1024 * 1024)
    app.queue(default_concurrency_limit=1, max_size=queue_size)
    try:
        app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
                   max_file_size=limit, allowed_paths=[str(assets)], show_error=False, footer_links=["api"],
                   run_history=False, app_kwargs={"middleware": [Middleware(UploadLimit, limit=limit)]})
    except OSError:  # the port taken since fomm.cli.app checked it
        raise AppError(f"cannot listen on {host}:{port} (in use by another server?); choose another with --port N") \
            from None
    return app.local_url
