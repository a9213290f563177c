"""Test-session settings shared by every test module."""

import os

# scikit-learn's array-API check (run with NumPy inputs) needs SciPy's array-API mode,
# which is read when SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# The models under test are tiny: one intra-op thread per pytest worker avoids
# oversubscribing the CI machine's two cores (pytest -n 2), which slows tests down.
torch.set_num_threads(1)


@pytest.fixture
def rows_on_demand(monkeypatch):
    """Importance-weights steps take the Gram matrix as rows on demand at any batch size."""
    monkeypatch.setattr("sklearn_iw.optim.iw._importance_weights.LAZY_GRAM_MIN_BATCH", 1)
