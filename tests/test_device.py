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


# --------------------------------------------------------------------------------------
# The device of a job, decided where it is planned
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "gpu_here", "planning_here", "expected"), [
    ("cpu", True, True, False),
    ("auto", True, True, True),      # a local run with a GPU takes it
    ("auto", False, True, False),
    ("cuda", True, True, True),
    ("auto", True, False, False),    # a cluster's parse: the setting alone decides ...
    ("auto", False, False, False),
    ("cuda", False, False, True),    # ... so 'cuda' on a node without a GPU never raises
    ("cuda", True, False, True),
])
def test_which_jobs_request_a_gpu(monkeypatch, setting, gpu_here, planning_here, expected):
    monkeypatch.setattr(device, "cuda_available", lambda: gpu_here)
    assert device.plans_gpu(setting, planning_here) is expected


def test_cuda_planned_here_without_a_gpu_stops_with_the_fix(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match="device: cpu"):
        device.plans_gpu("cuda", planning_here=True)


def test_a_job_that_cannot_use_a_gpu_is_planned_on_the_cpu():
    assert device.job_device(True, True) == "cuda"
    assert device.job_device(True, False) == "cpu"
    assert device.job_device(False, True) == "cpu"


def test_a_concrete_gpu_index_is_kept(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert device.resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match="device: cpu"):
        device.resolve_device("cuda:1")
    with pytest.raises(ValueError, match="choose one of"):
        device.resolve_device("cuda:x")


# --------------------------------------------------------------------------------------
# One GPU per running job
# --------------------------------------------------------------------------------------

@pytest.fixture
def gpu_slots(tmp_path, monkeypatch):
    """Lock files in a fresh folder, and no precision change of this test process."""
    monkeypatch.setenv(device.GPU_LOCK_DIR_VARIABLE, str(tmp_path))
    calls = []
    monkeypatch.setattr(device, "gpu_precision", lambda: calls.append(True))
    return calls


def test_the_cpu_claims_nothing(gpu_slots, tmp_path):
    with device.gpu_slot("cpu") as d:
        assert d == "cpu"
    assert not list(tmp_path.iterdir()) and not gpu_slots


def test_each_running_gpu_job_gets_its_own_gpu(gpu_slots):
    gpus = ["GPU-a", "GPU-b"]
    with device.gpu_slot("cuda", gpus) as first, device.gpu_slot("cuda", gpus) as second:
        assert (first, second) == ("cuda:0", "cuda:1")
    with device.gpu_slot("cuda", gpus) as again:
        assert again == "cuda:0"  # released at the end of the block
    assert len(gpu_slots) == 3  # the precision policy is set for every GPU job


def test_jobs_that_see_different_gpus_do_not_contend(gpu_slots):
    """Two SLURM jobs on one node each see their own GPU as cuda:0."""
    with device.gpu_slot("cuda", ["GPU-a"]) as first, \
            device.gpu_slot("cuda", ["GPU-b"]) as second:
        assert first == second == "cuda:0"


def test_a_job_waits_while_every_gpu_is_held(gpu_slots, monkeypatch):
    import threading

    monkeypatch.setattr(device, "GPU_WAIT_SECONDS", 0.01)
    claimed = []

    def second_job():
        with device.gpu_slot("cuda", ["GPU-a"]) as d:
            claimed.append(d)

    with device.gpu_slot("cuda", ["GPU-a"]):
        worker = threading.Thread(target=second_job)
        worker.start()
        worker.join(0.2)
        assert worker.is_alive() and not claimed  # waiting for the only GPU
    worker.join(5)
    assert claimed == ["cuda:0"]


def test_a_gpu_job_without_a_gpu_names_the_fix(gpu_slots, monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match="device: cpu"), device.compute_device("cuda"):
        pass


def test_the_precision_policy_turns_tf32_off():
    """Run in a fresh interpreter: the policy changes process-wide torch settings."""
    import subprocess
    import sys

    code = ("from holstein.device import gpu_precision; gpu_precision(); import torch; "
            "assert not torch.backends.cuda.matmul.allow_tf32; "
            "assert not torch.backends.cudnn.allow_tf32; "
            "assert torch.are_deterministic_algorithms_enabled(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_the_checkpoint_names_the_hardware():
    assert device.device_model("cpu") == "cpu"


def test_gpu_memory_of_negf_matches_its_dense_matrices():
    from holstein.pipeline.resources import negf_gpu_mb, negf_runtime_min

    assert 5.0 < negf_gpu_mb(80 * 60) / 1024 < 6.0
    assert 45 < negf_gpu_mb(120 * 120) / 1024 < 55
    # a CPU node needs about a day for the 80 x 30 transfer runs of config/paper.yaml
    assert negf_runtime_min(80 * 30, 3000) > 24 * 60
    assert negf_runtime_min(16 * 14, 3000) == 120


def test_a_cuda_job_that_sees_no_gpu_names_the_fix(gpu_slots):
    with pytest.raises(ValueError, match="device: cpu"), device.gpu_slot("cuda", []):
        pass


def test_an_explicit_gpu_index_gets_the_precision_policy_and_no_lock(gpu_slots, tmp_path):
    with device.gpu_slot("cuda:1") as d:
        assert d == "cuda:1"
    assert gpu_slots == [True] and not list(tmp_path.iterdir())
