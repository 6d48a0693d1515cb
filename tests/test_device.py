"""Device helpers."""

import torch

from rnnrec.device import denormals_flushed


def test_denormals_are_zero_inside_and_kept_after():
    tiny = torch.tensor([1e-39])  # a denormal float32
    with denormals_flushed():
        if torch.set_flush_denormal(True):  # only where the CPU supports flushing
            assert float(tiny * 1.0) == 0.0
    assert float(tiny * 1.0) > 0.0  # the global setting is restored
