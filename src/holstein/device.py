"""Where the numbers are computed: one setting, 'auto', 'cpu' or 'cuda', for every stage.

The device of a job is decided where the job is planned (``plans_gpu`` and
``job_device``), from the setting and from whether the job can use a GPU at all, and
reaches the job as a concrete 'cpu' or 'cuda'.  A job planned on the CPU never touches a
GPU.  Where a job planned on 'cuda' runs, ``gpu_slot`` turns it into 'cuda:k': one GPU of
its own among those torch sees (a SLURM job sees only its allocation), claimed by a lock
file per physical GPU, so that the GPU jobs ``--resources gpu=N`` lets run side by side
on an N-GPU workstation never share one.  The same context sets the precision policy
(``gpu_precision``): TF32 off, deterministic kernels where torch has them.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
# Below this many sites an NEGF steady state stays on the CPU even with a GPU: the
# eigendecomposition of a small matrix takes milliseconds there (0.1 s at 16 x 14 on one
# core), about the fixed cost of launching torch's eig on a GPU.  The crossover on a GPU
# is not measured yet: benchmarks/gpu_check.sh (negf_device.py) measures it.
NEGF_GPU_MIN_SITES = 1000


# Device nodes of a loaded GPU driver on Linux: NVIDIA (kernel module, device files), WSL's
# GPU paravirtualisation, AMD ROCm (which torch also reports as "cuda").
GPU_DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidia*", "/dev/dxg", "/dev/kfd")


def gpu_driver_absent() -> bool:
    """True where torch certainly sees no GPU: macOS, or Linux without GPU driver nodes.

    Asked first because importing torch to ask it costs about 2 s, and the workflow
    resolves the device at every parse."""
    if sys.platform == "darwin":
        return True
    if not sys.platform.startswith("linux"):
        return False
    return not any(glob.glob(pattern) for pattern in GPU_DRIVER_PATHS)


def cuda_available() -> bool:
    if gpu_driver_absent():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(setting: str = "auto") -> str:
    """'cpu' or 'cuda' for a setting among ``DEVICES`` (or a concrete 'cuda:k', kept as
    it is); a clear error for an unusable one."""
    concrete = setting.startswith("cuda:") and setting[5:].isdigit()
    if setting not in DEVICES and not concrete:
        raise ValueError(f"device={setting!r}: choose one of {DEVICES}")
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    if setting != "cpu" and not cuda_available():
        raise ValueError(
            "device='cuda' but torch sees no GPU (torch.cuda.is_available() is False): "
            "install a CUDA build of torch on a machine with an NVIDIA GPU, or set "
            "device: cpu (or auto)"
        )
    return setting


def negf_device(device: str, n_sites: int) -> str:
    """The device an NEGF steady state of ``n_sites`` sites runs on, given the resolved
    pipeline device: the GPU only where it pays."""
    return device if device != "cpu" and n_sites >= NEGF_GPU_MIN_SITES else "cpu"


def plans_gpu(setting: str, planning_here: bool) -> bool:
    """Whether the jobs that can use a GPU request one, for the pipeline's setting.

    ``planning_here``: the workflow is planned by the process that also runs its jobs on
    this machine (a local run).  There the setting is checked against this machine:
    'auto' takes the GPU when torch sees one, 'cuda' without a GPU stops with
    ``resolve_device``'s error.  Everywhere else (the submit host of a cluster, or a
    cluster job's own parse on a compute node) the setting alone decides, the same way
    on every node: 'cuda' requests GPUs, 'auto' and 'cpu' do not.
    """
    if setting not in DEVICES:
        raise ValueError(f"device={setting!r}: choose one of {DEVICES}")
    if planning_here:
        return resolve_device(setting) == "cuda"
    return setting == "cuda"


def job_device(pipeline_gpu: bool, job_uses_gpu: bool) -> str:
    """The device a job is planned on: 'cuda' where the pipeline requests GPUs and the job
    can use one (it then declares gpu=1), else 'cpu'."""
    return "cuda" if pipeline_gpu and job_uses_gpu else "cpu"


# Where the GPU slot locks live: one file per physical GPU, shared by every job of this
# user on the machine (a per-user folder of the temporary directory; set the variable
# to a folder every user can write, to share GPUs between users' pipelines).
GPU_LOCK_DIR_VARIABLE = "HOLSTEIN_GPU_LOCK_DIR"
GPU_WAIT_SECONDS = 1.0


def gpu_lock_dir() -> Path:
    folder = os.environ.get(GPU_LOCK_DIR_VARIABLE) or Path(
        tempfile.gettempdir()) / f"holstein-gpu-slots-{os.getuid()}"
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def visible_gpus() -> list[str]:
    """An identifier per GPU torch sees, in torch's index order (UUIDs where torch reports
    them, so two jobs that see different GPUs as cuda:0 do not contend)."""
    import torch

    ids = []
    for k in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(k), "uuid", None)
        ids.append(str(uuid) if uuid is not None else f"index-{k}")
    return ids


def gpu_memory_mb() -> int:
    """Memory of the smallest GPU torch sees, in MB."""
    import torch

    return min(int(torch.cuda.get_device_properties(k).total_memory / 2**20)
               for k in range(torch.cuda.device_count()))


@contextlib.contextmanager
def gpu_slot(device: str, gpus=None):
    """The concrete device a job computes on, held for the duration of the block.

    'cpu' stays 'cpu' (torch is not even imported).  'cuda' becomes 'cuda:k', the first
    of the visible GPUs (``gpus``: their identifiers, default ``visible_gpus()``) whose
    lock file no other job holds; if every one is held (more GPU jobs than GPUs were
    allowed to run), it waits, logging once.  An explicit 'cuda:k' is used as given.
    """
    if device == "cpu":
        yield "cpu"
        return
    if device != "cuda":  # an explicit 'cuda:k': used as given, with the same policy
        gpu_precision()
        yield device
        return
    if not cuda_available() and gpus is None:
        resolve_device("cuda")  # the error that names the fix
    gpus = visible_gpus() if gpus is None else gpus
    if not gpus:
        raise ValueError("device 'cuda' but torch lists no GPU (torch.cuda.device_count() "
                         "is 0): set device: cpu, or check CUDA_VISIBLE_DEVICES")
    folder = gpu_lock_dir()
    waited = False
    while True:
        for k, gpu in enumerate(gpus):
            handle = open(folder / f"{gpu.replace('/', '_')}.lock", "a")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                log.info("computing on cuda:%d (%s)", k, gpu)
                gpu_precision()
                yield f"cuda:{k}"
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        if not waited:
            log.warning("all %d visible GPUs are held by other jobs: waiting for one "
                        "(run with --resources gpu=<number of GPUs>)", len(gpus))
            waited = True
        time.sleep(GPU_WAIT_SECONDS)


@contextlib.contextmanager
def compute_device(setting: str):
    """What a stage computes on, for the device it was planned on: ``resolve_device``,
    then ``gpu_slot`` (a GPU of its own, the precision policy) for a GPU."""
    with gpu_slot(resolve_device(setting)) as device:
        yield device


def gpu_precision(deterministic: bool = True) -> None:
    """The precision policy of the force field on a GPU: full float32 (TF32 off, so the
    GPU force matches the CPU's to float32 rounding) and, for training, deterministic
    kernels where torch has them (a warning names an operation that has none).  NEGF is
    complex128 on every device and unaffected."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def device_model(device: str) -> str:
    """What a checkpoint records about the hardware: 'cpu', or the GPU's model name
    ('cuda:0 NVIDIA H200'), since bit-for-bit resume holds only on the same model."""
    if not str(device).startswith("cuda"):
        return "cpu"
    import torch

    return f"{device} {torch.cuda.get_device_name(torch.device(device))}"
