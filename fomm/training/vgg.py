"""VGG-19 features for the perceptual loss (paper Sec. 3.5, after Johnson et al.).

The layer list and indices are torchvision's ``vgg19().features``, so its published ImageNet weights
(``vgg19-dcbb9e9d.pth``) load strictly without depending on torchvision. The five outputs are the
activations after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 (``features`` indices 0-1, 2-6,
7-11, 12-20, 21-29), of the input normalized with the ImageNet mean and std, as in the original.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import FommError

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_FILE}"

# torchvision's configuration "E": channels of each conv, "M" for a 2x2 max pooling.
_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# One past the last ``features`` index of each slice: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
SLICE_ENDS = (2, 7, 12, 21, 30)
# The seed of --vgg-random's weights (recorded in each checkpoint's training state as the run's "vgg").
RANDOM_SEED = 19
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsError(FommError, RuntimeError):
    """The VGG-19 weights are missing or are not torchvision's VGG-19; the message says what to do."""


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for item in _LAYERS:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = item
    return nn.Sequential(*layers)


class Vgg19(nn.Module):
    """Frozen VGG-19 feature extractor returning the activations of the five perceptual layers.

    ``state_dict()`` holds exactly torchvision's ``features.*`` keys; the normalization constants are
    non-persistent buffers.
    """

    def __init__(self, init_weights: bool = True):
        super().__init__()
        # Without init_weights the layers are built on the meta device, to be filled by
        # ``load_state_dict(..., assign=True)``: no time spent drawing 20 M random numbers.
        with contextlib.nullcontext() if init_weights else torch.device("meta"):
            self.features = _features()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        # Which weights it holds, as a run records it: "imagenet", "random (seed N)", or "random" for a
        # network drawn from the process's random state (not reproducible on resume).
        self.weights = "random"

    def train(self, mode: bool = True) -> Vgg19:
        # Always in eval mode (it has no dropout or batch norm in ``features``, but keep it explicit).
        return super().train(False)

    def forward(self, x: torch.Tensor, num_layers: int = len(SLICE_ENDS)) -> list[torch.Tensor]:
        """Features of images ``x`` (B, 3, H, W) in [0, 1] after the first ``num_layers`` slices.

        Only the layers needed for ``num_layers`` outputs are run.
        """
        out = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        outputs = []
        start = 0
        for end in SLICE_ENDS[:num_layers]:
            for index in range(start, end):
                out = self.features[index](out)
            outputs.append(out)
            start = end
        return outputs


def default_weights_path() -> Path:
    """Where torchvision (and we) cache the ImageNet weights: ``<torch hub dir>/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


@functools.cache
def _expected_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in Vgg19(init_weights=False).state_dict().items()}


def _features_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision VGG-19 state dict; the classifier is dropped."""
    if not isinstance(obj, Mapping):
        raise VGGWeightsError(f"{path} is not a VGG-19 state dict (it holds a {type(obj).__name__}); expected "
                              f"torchvision's {WEIGHTS_FILE} from {WEIGHTS_URL}")
    features = {k: v for k, v in obj.items() if isinstance(k, str) and k.startswith("features.")}
    others = [k for k in obj if not (isinstance(k, str) and (k.startswith("features.") or k.startswith("classifier.")))]
    expected = _expected_shapes()
    problems = [f"missing {k}" for k in expected if k not in features]
    problems += [f"unexpected {k}" for k in [*features, *others] if k not in expected]
    problems += [f"{k}: shape {tuple(features[k].shape)}, expected {shape}"
                 for k, shape in expected.items() if k in features and tuple(features[k].shape) != shape]
    if problems:
        shown = ", ".join(problems[:5]) + (f" and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise VGGWeightsError(f"{path} is not torchvision's VGG-19 ({shown}); download {WEIGHTS_URL}")
    return features


def _load_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except Exception as exc:  # truncated files, foreign pickles: report the file, never execute it
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VGGWeightsError(f"cannot read {path} as VGG-19 weights ({first_line}); it is truncated or not a "
                              f"PyTorch state dict: download {WEIGHTS_URL} again") from None
    return _features_state_dict(obj, path)


def load_vgg19(path: str | Path | None = None, allow_random: bool = False, download: bool = True) -> Vgg19:
    """The frozen VGG-19 of the perceptual loss, with ImageNet weights.

    Looks in order at ``path``, the torch hub cache (:func:`default_weights_path`) and, when
    ``download``, torchvision's URL. If none gives weights: random weights when ``allow_random``
    (logged as a warning: the perceptual loss then compares random features), else
    :class:`VGGWeightsError` saying where to put the file.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise VGGWeightsError(f"VGG-19 weights not found: {path} (get {WEIGHTS_URL})")
        return _with_weights(_load_file(path))
    cached = default_weights_path()
    if cached.is_file():
        return _with_weights(_load_file(cached))
    if download:
        try:
            state = torch.hub.load_state_dict_from_url(WEIGHTS_URL, map_location="cpu", weights_only=True,
                                                       progress=False, file_name=WEIGHTS_FILE)
        except (OSError, RuntimeError) as exc:  # offline (URLError is an OSError), refused, truncated
            logger.info("could not download %s: %s", WEIGHTS_URL, exc)
        else:
            return _with_weights(_features_state_dict(state, cached))
    if allow_random:
        logger.warning("VGG-19 with random weights: the perceptual loss compares random features (fine for "
                       "smoke tests and synthetic data, not for training a real model)")
        return random_vgg19()
    raise VGGWeightsError(
        f"the perceptual loss needs torchvision's ImageNet VGG-19 weights and none were found: put {WEIGHTS_URL} "
        f"at {cached}, or pass --vgg PATH; --vgg-random uses random weights instead")


def random_vgg19(seed: int = RANDOM_SEED) -> Vgg19:
    """A VGG-19 with random weights drawn from ``seed`` alone, not from the process's random state: a
    resumed run and every DDP rank compare frames with the same perceptual network."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Vgg19()
    model.weights = f"random (seed {seed})"
    return model


def _with_weights(features: Mapping[str, torch.Tensor]) -> Vgg19:
    model = Vgg19(init_weights=False)
    state = {k[len("features."):]: v.float() for k, v in features.items()}
    model.features.load_state_dict(state, strict=True, assign=True)
    model.weights = "imagenet"
    return model.requires_grad_(False).eval()
