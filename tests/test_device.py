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


def test_no_gpu_driver_means_torch_sees_no_gpu():
    """The shortcut that spares torch's import is never wrong: where it says no driver is
    loaded, torch agrees."""
    torch = pytest.importorskip("torch")
    if device.gpu_driver_absent():
        assert not torch.cuda.is_available()
        assert device.cuda_available() is False
    else:
        assert device.cuda_available() == torch.cuda.is_available()


def test_the_driver_check_looks_for_every_driver_node(monkeypatch):
    monkeypatch.setattr(device.sys, "platform", "linux")
    seen = []
    monkeypatch.setattr(device.glob, "glob", lambda pattern: seen.append(pattern) or [])
    assert device.gpu_driver_absent()
    assert seen == list(device.GPU_DRIVER_PATHS)
    monkeypatch.setattr(device.glob, "glob", lambda pattern: [pattern] * (pattern == "/dev/kfd"))
    assert not device.gpu_driver_absent()
