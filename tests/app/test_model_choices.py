"""The app's checkpoint list names each model's family and modes, and the mode choice offers only the
chosen model's modes (the page's wiring checked on the Blocks gradio builds, without a browser)."""

from __future__ import annotations

import re

import pytest
import torch

from fomm.app import DEFAULT_LABEL, AnimationJob, AppError, JobOptions, ModelCache, WorkFolder, checkpoint_choices
from tests.media import make_image, make_video


@pytest.fixture(scope="module")
def checkpoints(golden, tmp_path_factory):
    """The bundled FOMM, the golden TPSMM and MRAA checkpoints, and the TPSMM one without its AVD network
    (as saved before the AVD stage)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    raw = torch.load(golden / "tpsmm-tiny.pth.tar", weights_only=True)
    del raw["avd_network"]
    torch.save(raw, folder / "tpsmm-no-avd.pth.tar")
    return checkpoint_choices([golden / "tpsmm-tiny.pth.tar", golden / "mraa-tiny.pth.tar",
                               folder / "tpsmm-no-avd.pth.tar"])


@pytest.fixture(scope="module")
def models(checkpoints) -> ModelCache:
    return ModelCache(checkpoints, device="cpu")


def test_each_checkpoint_is_listed_with_its_family_and_modes(models):
    titles = [choice.title for choice in models.choices.values()]
    assert titles == [f"{DEFAULT_LABEL} (fomm: relative, absolute)",
                      "tpsmm-tiny.pth.tar (tpsmm: relative, absolute, avd)",
                      "mraa-tiny.pth.tar (mraa: avd, relative, absolute)",  # avd first: their demo's default
                      "tpsmm-no-avd.pth.tar (tpsmm: relative, absolute)"]
    assert models.loaded is None  # listing reads the files' keys, it loads no model


def test_a_mode_the_checkpoint_lacks_is_refused_before_any_work(models, tmp_path):
    source, driving = make_image(tmp_path / "face.png", size=(80, 60)), make_video(tmp_path / "clip.mp4", n=3)
    for label in (DEFAULT_LABEL, "tpsmm-no-avd.pth.tar"):
        refused = rf"{re.escape(label)} \(.*\) animates in modes relative, absolute, not 'avd'"
        with pytest.raises(AppError, match=refused):
            AnimationJob(models, source, driving, JobOptions(checkpoint=label, mode="avd"), tmp_path)
    AnimationJob(models, source, driving, JobOptions(checkpoint="mraa-tiny.pth.tar", mode="avd"), tmp_path)
    assert models.loaded is None


def test_the_page_offers_only_the_chosen_checkpoints_modes(models, tmp_path):
    pytest.importorskip("gradio")  # fomm[app]: installed wherever the tests run (CI installs every extra)
    from fomm.app import ui

    app = ui.build_app(models, WorkFolder(tmp_path), examples=False)
    components = {c.get("props", {}).get("elem_id"): c for c in app.config["components"]}
    listed = [tuple(choice) for choice in components["checkpoint"]["props"]["choices"]]
    assert listed == [(choice.title, choice.label) for choice in models.choices.values()]
    radio = components["mode"]
    assert [tuple(c) for c in radio["props"]["choices"]] == [("relative",) * 2, ("absolute",) * 2]
    assert radio["props"]["value"] == "relative"
    changed = [fn for fn in app.fns.values()
               if [b._id for b in fn.inputs] == [components["checkpoint"]["id"], radio["id"]]]
    assert len(changed) == 1 and [b._id for b in changed[0].outputs] == [radio["id"]]
    on_change = changed[0].fn
    assert on_change("mraa-tiny.pth.tar", "relative") == {"__type__": "update",
                                                          "choices": ["avd", "relative", "absolute"],
                                                          "value": "relative"}  # the user's choice kept
    assert on_change("tpsmm-no-avd.pth.tar", "avd")["value"] == "relative"  # not offered: the family's default
    assert on_change("mraa-tiny.pth.tar", "absolute")["choices"] == ["avd", "relative", "absolute"]
