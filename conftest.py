"""Settings for every test pytest collects: tests/ and the docstring examples of sklearn_iw.

The models of the tests and doctests are tiny: one intra-op torch thread and one BLAS
thread per pytest worker avoid oversubscribing the two cores of the CI machine
(``pytest -n 2``). BLAS threads beside torch's spin-wait: a default LSTM check fit took
24.7 s with OpenBLAS's default threads and 7.7 s with one.
"""

import numpy  # noqa: F401  (loads the BLAS libraries threadpoolctl limits)
import scipy.linalg  # noqa: F401
import torch
from threadpoolctl import threadpool_limits

torch.set_num_threads(1)
threadpool_limits(limits=1, user_api="blas")
