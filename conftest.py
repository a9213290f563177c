"""Settings for every test pytest collects: tests/ and the docstring examples of sklearn_iw.

The models of the tests and doctests are tiny: one intra-op torch thread per pytest worker
avoids oversubscribing the two cores of the CI machine (``pytest -n 2``).
"""

import torch

torch.set_num_threads(1)
