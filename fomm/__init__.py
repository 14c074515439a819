"""fomm: the First Order Motion Model (Siarohin et al., NeurIPS 2019) as maintained software."""

__version__ = "0.1.0"

from .api import available_models, load_model, select_device  # noqa: E402
from .checkpoints import CheckpointError, read_checkpoint, save_checkpoint  # noqa: E402
from .config import Config, ConfigError, available_configs, load_config  # noqa: E402
from .errors import FommError  # noqa: E402
from .lazy import lazy_exports  # noqa: E402
from .model import FOMM  # noqa: E402
from .models import Keypoints  # noqa: E402

# The animation entry point loads the video stack: imported on first use, so `import fomm` stays light.
__getattr__, __dir__ = lazy_exports(__name__, {
    "AnimationOptions": ".animation.options", "OptionsError": ".animation.options",
    "AnimationResult": ".pipeline", "animate_file": ".pipeline", "Output": ".pipeline", "Progress": ".pipeline",
}, globals())

__all__ = [
    "FOMM", "AnimationOptions", "AnimationResult", "CheckpointError", "Config", "ConfigError", "FommError", "Keypoints",
    "OptionsError", "Output", "Progress", "__version__", "animate_file", "available_configs", "available_models",
    "load_config", "load_model", "read_checkpoint", "save_checkpoint", "select_device",
]
