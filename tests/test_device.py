"""The one device setting: 'auto', 'cpu', 'cuda', and where NEGF uses the GPU."""

import pytest

from holstein import device


def test_cpu_is_always_cpu():
    assert device.resolve_device("cpu") == "cpu"


def test_auto_takes_the_gpu_exactly_when_torch_sees_one(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert device.resolve_device("auto") == "cuda"
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    assert device.resolve_device("auto") == "cpu"


def test_cuda_without_a_gpu_names_the_fix(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match="device: cpu"):
        device.resolve_device("cuda")


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        device.resolve_device("gpu")


def test_negf_uses_the_gpu_only_on_lattices_where_it_pays():
    big = device.NEGF_GPU_MIN_SITES
    assert device.negf_device("cuda", big) == "cuda"
    assert device.negf_device("cuda", big - 1) == "cpu"
    assert device.negf_device("cpu", 10 * big) == "cpu"
