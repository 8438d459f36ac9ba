"""Shared test fixtures."""

import pytest


@pytest.fixture(scope="module")
def torch_one_thread():
    """Torch on one thread: reproducible float rounding and no oversubscription."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
