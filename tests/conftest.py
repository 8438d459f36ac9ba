"""Shared test fixtures; tests marked ``gpu`` run only where torch sees a CUDA device."""

import pytest


def pytest_collection_modifyitems(config, items):
    from holstein.device import cuda_available

    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Torch on one thread: reproducible float rounding and no oversubscription."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
