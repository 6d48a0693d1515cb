"""Device helpers."""

import pytest
import torch

from rnnrec.device import denormals_flushed, resolve_precision
from rnnrec.errors import ConfigError


def test_denormals_are_zero_inside_and_kept_after():
    tiny = torch.tensor([1e-39])  # a denormal float32
    with denormals_flushed():
        if torch.set_flush_denormal(True):  # only where the CPU supports flushing
            assert float(tiny * 1.0) == 0.0
    assert float(tiny * 1.0) > 0.0  # the global setting is restored


def test_precision_names_pass_through_and_auto_follows_the_hardware():
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == "float32"
    assert resolve_precision("bfloat16", cpu) == "bfloat16"
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert resolve_precision("auto", cpu) == ("bfloat16" if native else "float32")
    assert resolve_precision("auto", torch.device("meta")) == "float32"  # no native bfloat16 known there
    with pytest.raises(ConfigError, match=r"objective.precision must be one of .*'half'"):
        resolve_precision("half", cpu)
