"""Where the numbers are computed: one setting, 'auto', 'cpu' or 'cuda', for every stage.

``resolve_device`` turns the setting into what the stages use: 'cpu' (numpy for NEGF,
torch on the CPU for the force field) or a CUDA device (torch on the GPU for both).
'auto' takes the GPU when torch sees one.
"""

from __future__ import annotations

import glob
import sys

DEVICES = ("auto", "cpu", "cuda")
# Below this many sites an NEGF steady state stays on the CPU even with a GPU: the
# eigendecomposition of a small matrix is a few milliseconds there, less than the fixed
# cost of launching it on a GPU, which pays clearly at 40 x 30 = 1200 sites
# (docs/results.md; benchmarks/negf_device.py measures the crossover).
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
    """'cpu' or 'cuda' for a setting among ``DEVICES``; a clear error for an unusable one."""
    if setting not in DEVICES:
        raise ValueError(f"device={setting!r}: choose one of {DEVICES}")
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    if setting == "cuda" and not cuda_available():
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
