"""Animation options are checked in one place (``AnimationOptions``): each bad option is refused with
the same message through the Python API, ``fomm animate`` and the app's job, each in its own words
(``adapt_scale`` / ``--adapt-scale`` / "adapt scale"), before any model is loaded or file written."""

from __future__ import annotations

import pytest

from fomm.animation import options as opts
from fomm.animation.options import API_WORDS, APP_WORDS, CLI_WORDS, AnimationOptions, OptionsError
from fomm.app import AnimationJob, AppError, JobOptions, ModelCache, checkpoint_choices
from fomm.cli import main
from fomm.crop import TARGETS
from fomm.precision import PRECISIONS
from tests.media import make_image, make_video

# (options, CLI flags, app choices or None when the page has no such control, words every message has)
BAD = {
    "mode": ({"mode": "sideways"}, ["--mode", "sideways"], JobOptions(mode="sideways"), "must be one of relative"),
    "adapt scale in absolute mode": ({"mode": "absolute", "adapt_scale": True}, ["--mode", "absolute", "--adapt-scale"],
                                     JobOptions(mode="absolute", adapt_scale=True), "scales relative motion"),
    "best frame in absolute mode": ({"mode": "absolute", "best_frame": "auto"},
                                    ["--mode", "absolute", "--best-frame", "auto"],
                                    JobOptions(mode="absolute", best_frame=True), "picks the reference frame"),
    "all faces without paste-back": ({"faces": "all"}, ["--faces", "all"], None, "the faces are put back"),
    "batch size": ({"batch_size": 0}, ["--batch-size", "0"], None, "batch"),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    return make_image(folder / "face.png", size=(80, 60)), make_video(folder / "clip.mp4", n=3, fps=10)


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_option_gives_the_same_message_through_the_api_the_cli_and_the_app(case, media, tmp_path, capsys):
    values, flags, choices, words = BAD[case]
    with pytest.raises(OptionsError) as api:
        AnimationOptions(**values)
    message = api.value.worded
    assert words in str(api.value) and str(api.value) == message(API_WORDS)
    out = tmp_path / "out.mp4"
    if case != "batch size":  # argparse itself refuses a batch size of 0 (positive_int), before the options
        assert main(["animate", str(media[0]), str(media[1]), "-o", str(out), *flags]) == 2
        err = capsys.readouterr().err
        assert err.strip() == f"fomm animate: error: {message(CLI_WORDS)}" and len(err.strip().splitlines()) == 1
        assert not out.exists()
    if choices is not None:
        models = ModelCache(checkpoint_choices([]), device="cpu")
        with pytest.raises(AppError) as app:
            AnimationJob(models, media[0], media[1], choices, tmp_path)
        assert str(app.value) == message(APP_WORDS) and models.loaded is None  # refused before loading a model


def test_each_vocabulary_names_the_options_its_own_way():
    with pytest.raises(OptionsError) as error:
        AnimationOptions(mode="absolute", adapt_scale=True)
    assert error.value.worded(API_WORDS).startswith("adapt_scale scales relative motion; it does nothing with "
                                                    "mode='absolute'")
    assert "--adapt-scale" in error.value.worded(CLI_WORDS) and "--mode absolute" in error.value.worded(CLI_WORDS)
    assert error.value.worded(APP_WORDS).startswith("adapt scale scales relative motion")


@pytest.mark.parametrize(("values", "words"), [
    ({"best_frame": -1}, "frame index"), ({"best_frame": True}, "frame index"), ({"crop": "centre"}, "crop must"),
    ({"fit": "stretch"}, "fit must"), ({"layout": "grid"}, "layout must"), ({"precision": "fp8"}, "precision must"),
    ({"size": 0}, "size must"), ({"batch_size": 10**6}, "at most"), ({"crop_margin": float("nan")}, "crop_margin"),
    ({"target": "cat"}, "target must"), ({"faces": "all", "paste_back": True, "crop": (1, 2)}, None),
])
def test_bad_values_are_refused_by_name(values, words):
    if words is None:  # a tuple is not a box: refused as a crop value
        words = "crop must"
    with pytest.raises(OptionsError, match=words):
        AnimationOptions(**values)


def test_from_mapping_refuses_unknown_names_and_checks_the_rest():
    assert AnimationOptions.from_mapping({"mode": "absolute"}).mode == "absolute"
    with pytest.raises(OptionsError, match="unknown option 'moed'"):
        AnimationOptions.from_mapping({"moed": "absolute"})
    with pytest.raises(OptionsError, match="scales relative motion"):
        AnimationOptions.from_mapping({"mode": "absolute", "adapt_scale": True})


def test_the_spelt_out_lists_equal_the_modules_they_mirror():
    assert opts.TARGETS == TARGETS and opts.PRECISIONS == PRECISIONS


def test_relative_options_with_a_family_whose_default_mode_is_another_are_refused():
    """MRAA's demo animates in avd mode by default: a best frame or adapt scale without --mode relative
    would do nothing, so they are refused naming the fix; with mode relative they are fine."""
    modes = ("avd", "relative", "absolute")
    for values, key in (({"best_frame": "auto"}, "best_frame"), ({"adapt_scale": True}, "adapt_scale")):
        with pytest.raises(OptionsError) as error:
            AnimationOptions(**values).check_model(modes, "mraa")
        assert error.value.worded(CLI_WORDS).endswith(f"add --mode relative or drop --{key.replace('_', '-')}")
        AnimationOptions(mode="relative", **values).check_model(modes, "mraa")
    with pytest.raises(OptionsError, match="has no AVD network .*: train one with fomm train --stage avd"):
        AnimationOptions(mode="avd").check_model(("relative", "absolute"), "fomm")
