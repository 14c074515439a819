"""How each kind of caller names the options a message speaks of: a library error whose fix is to set an
option is written once, with the options' names left as words to fill in, and each caller words it in
its own vocabulary (``adapt_scale`` from Python, ``--adapt-scale`` on the command line, "adapt scale"
in the app). :class:`WordedError` is such an error; the CLI (``fomm.cli.common.user_errors``) words
every one it shows in :data:`CLI_WORDS`, the app in :data:`APP_WORDS`, ``str()`` in :data:`API_WORDS`.

Light on purpose (no torch): any module may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import FommError


@dataclass(frozen=True)
class Vocabulary:
    """How one kind of caller names the options in messages: ``names[key]`` is an option's name,
    ``setting(key, value)`` an option set to a value, ``drop(key)`` the fix that turns it off."""

    names: Mapping[str, str]
    set_format: str  # "{name}={value!r}", "{name} {value}", ...
    drop_format: str  # "set {name}=False", "drop {name}", "untick {name}"
    fixes: Mapping[str, str] = field(default_factory=dict)  # whole fixes in the caller's words, by situation

    def name(self, key: str) -> str:
        return self.names.get(key, key)

    def setting(self, key: str, value: Any) -> str:
        return self.set_format.format(name=self.name(key), value=value)

    def drop(self, key: str) -> str:
        return self.drop_format.format(name=self.name(key))


API_WORDS = Vocabulary({}, "{name}={value!r}", "leave {name} unset", {"fused_adam_off": "pass fused_adam=False"})
CLI_WORDS = Vocabulary({f.replace("-", "_"): "--" + f for f in (
    "mode", "adapt-scale", "best-frame", "crop", "driving-crop", "paste-back", "faces", "target", "crop-margin",
    "fit", "size", "batch-size", "precision", "compile", "layout", "keypoints", "audio", "smooth", "detector",
    "face", "codec-device", "loop", "device", "fused-adam")} | {"audio_from": "--audio"},
    "{name} {value}", "drop {name}",
    {"fused_adam_off": "pass --no-fused-adam"})  # a resumed run keeps its setting: dropping the flag is not enough
APP_WORDS = Vocabulary({"adapt_scale": "adapt scale", "best_frame": "best frame", "paste_back": "paste back",
                        "crop_margin": "crop margin", "batch_size": "batch size"}, "{name}: {value}", "untick {name}",
                       {"source": "choose crop: none to animate the whole photo, or upload a photo where the subject "
                                  "is larger",
                        "driving": "choose crop: none, or upload a clip where the subject is larger"})


class WordedError(FommError):
    """A user error that may name options: ``message`` is its text, or a function of a
    :class:`Vocabulary` that writes it in a caller's words; ``str()`` gives the Python API's,
    :meth:`worded` any caller's."""

    def __init__(self, message: str | Callable[[Vocabulary], str]):
        self._words = None if isinstance(message, str) else message
        super().__init__(message if self._words is None else self._words(API_WORDS))

    def worded(self, words: Vocabulary) -> str:
        return str(self) if self._words is None else self._words(words)


__all__ = ["API_WORDS", "APP_WORDS", "CLI_WORDS", "Vocabulary", "WordedError"]
