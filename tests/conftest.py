"""Test-session settings shared by every test module."""

import torch

# The models under test are tiny: one intra-op thread per pytest worker avoids
# oversubscribing the CI machine's two cores (pytest -n 2), which slows tests down.
torch.set_num_threads(1)
