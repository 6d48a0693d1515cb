"""Test-wide settings.

Tests train tiny models, where torch's worker threads cost more than they save, and on a machine
whose cores are busy with other work, spinning threads can make a one-second test take a minute.
One thread keeps every test's time predictable.
"""

import torch

torch.set_num_threads(1)
