"""VGG-19: torchvision's layout (strict loading of its state dict), where the weights come from, and
the errors when they cannot be found or are the wrong file."""

from __future__ import annotations

import logging
import urllib.error

import pytest
import torch

from fomm.training import vgg as vgg_module
from fomm.training.vgg import WEIGHTS_URL, Vgg19, VGGWeightsError, default_weights_path, load_vgg19

# torchvision's vgg19().features: the conv layers and their (out, in) channels.
CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256),
         16: (256, 256), 19: (512, 256), 21: (512, 512), 23: (512, 512), 25: (512, 512), 28: (512, 512),
         30: (512, 512), 32: (512, 512), 34: (512, 512)}


def torchvision_state_dict(random: bool = True) -> dict[str, torch.Tensor]:
    """A state dict in the layout of torchvision's vgg19-dcbb9e9d.pth (features + a shrunk classifier)."""
    g = torch.Generator().manual_seed(0)

    def tensor(*shape):
        return torch.randn(*shape, generator=g) * 0.05 if random else torch.zeros(*shape)

    state = {}
    for index, (out, inp) in CONVS.items():
        state[f"features.{index}.weight"] = tensor(out, inp, 3, 3)
        state[f"features.{index}.bias"] = tensor(out)
    for index, (out, inp) in {0: (16, 8), 3: (16, 16), 6: (10, 16)}.items():
        state[f"classifier.{index}.weight"] = tensor(out, inp)
        state[f"classifier.{index}.bias"] = tensor(out)
    return state


def test_layout_is_torchvisions():
    state = Vgg19().state_dict()
    expected = {f"features.{i}.{p}": ((out, inp, 3, 3) if p == "weight" else (out,))
                for i, (out, inp) in CONVS.items() for p in ("weight", "bias")}
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_loads_a_torchvision_file_strictly(tmp_path, hub_dir):
    state = torchvision_state_dict()
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    model = load_vgg19(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.train().training  # stays in eval mode
    # The hub cache is the default place.
    default_weights_path().parent.mkdir(parents=True)
    torch.save(state, default_weights_path())
    torch.testing.assert_close(load_vgg19().features[0].weight, state["features.0.weight"], rtol=0, atol=0)


def test_outputs_are_the_five_relu_layers_and_stop_early():
    model = Vgg19()
    x = torch.rand(1, 3, 32, 32)
    full = model(x)
    assert [tuple(f.shape[1:]) for f in full] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    manual = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1)
    torch.testing.assert_close(full[0], model.features[1](model.features[0](manual)))
    assert all(f.min() >= 0 for f in full)  # after ReLU
    short = model(x, num_layers=2)
    assert len(short) == 2
    torch.testing.assert_close(short[1], full[1])


def test_missing_weights_say_where_to_put_them(hub_dir, caplog):
    with pytest.raises(VGGWeightsError) as info:
        load_vgg19()
    message = str(info.value)
    assert str(default_weights_path()) in message and WEIGHTS_URL in message
    assert "--vgg PATH" in message and "--vgg-random" in message
    with pytest.raises(VGGWeightsError, match="not found"):
        load_vgg19(hub_dir / "nope.pth")
    with caplog.at_level(logging.WARNING):
        model = load_vgg19(allow_random=True, download=False)
    assert isinstance(model, Vgg19) and "random weights" in caplog.text


def test_download_failure_is_caught_quickly(hub_dir, monkeypatch):
    calls = []

    def offline(url, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(VGGWeightsError, match="none were found"):
        load_vgg19()
    assert calls == [WEIGHTS_URL]
    load_vgg19(allow_random=True, download=False)
    assert len(calls) == 1  # --vgg-random never downloads


@pytest.mark.parametrize("problem", ["missing key", "wrong shape", "not a dict", "truncated", "foreign key"])
def test_wrong_files_are_refused(tmp_path, problem):
    state = torchvision_state_dict(random=False)
    path = tmp_path / "weights.pth"
    if problem == "missing key":
        del state["features.34.weight"]
    elif problem == "wrong shape":
        state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    elif problem == "not a dict":
        state = [torch.zeros(1)]
    elif problem == "foreign key":
        state["fc.weight"] = torch.zeros(1)
    torch.save(state, path)
    if problem == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(VGGWeightsError) as info:
        load_vgg19(path)
    assert str(path) in str(info.value) and WEIGHTS_URL in str(info.value)


class _Evil:
    """Unpickling this creates the file ``marker``: proof that the pickle's code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_with_code_is_not_executed(tmp_path):
    path, marker = tmp_path / "evil.pth", tmp_path / "pwned"
    torch.save({"features.0.weight": _Evil(marker)}, path)
    with pytest.raises(VGGWeightsError, match="cannot read"):
        vgg_module.load_vgg19(path)
    assert not marker.exists()
