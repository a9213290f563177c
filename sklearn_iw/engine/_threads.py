"""The thread settings a fit or a prediction runs under.

Two thread pools at once slow the estimators down: torch's OpenMP pool and the OpenBLAS
pool of numpy and scipy, which the host side of importance weights calls between torch's
operations (the small QPs of ``optim/iw/_qp.py``, the span self-influence of
``loo/_influence.py``). Idle threads of each pool spin-wait for work, so on a 2-core
machine each pool's spinning threads take the cores the other one's work needs:
``IWLogisticRegression()`` on scaled breast cancer took 1.04 s at the libraries' default
threads (two each) against 0.14 s with OpenBLAS limited to one thread. torch's own
threads do not pay on the minibatches of these models either: a step is a few small
matrix products, and ``IWMLPClassifier((64,), optimizer='adam')`` on digits took 0.32 s
with torch's two threads (OpenBLAS on one) against 0.28 s with torch on one, on an idle
box; on the box shared with two other processes, the fits of
``benchmarks/bench_threads.py`` with torch's two threads (OpenBLAS on one) took 6 to 157
times as long as on one thread.

:func:`compute_threads` sets both for the duration of one fit or prediction and restores
them afterwards. It only ever lowers the counts, never raises them, so a limit the user
set (``torch.set_num_threads``, ``threadpoolctl``, ``OMP_NUM_THREADS``) holds inside a fit
too.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache

import torch
from threadpoolctl import ThreadpoolController
from torch import nn

# Multiply-adds of one forward call (rows x steps x weights) from which the call keeps
# torch's threads. Measured on the 2-core box shared with other processes (load average
# 1.5 to 2), a forward pass of an MLP over 8192 to 20000 rows took on two threads 1.4 to
# 2.4 times as long as on one at 1.2e8 multiply-adds, 1.2 to 1.3 times at 2e9 to 4e9,
# and as long (0.93 to 1.06) at 2e10: a thread that loses its core to another process
# stalls every parallel region. An idle machine gains from threads on far smaller calls,
# but a shared one is where these CPU fits run.
PARALLEL_WORK = 1e10


@cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded at the first fit (numpy's and scipy's OpenBLAS, which
    the package imports): looking them up takes milliseconds, too long for every call."""
    return ThreadpoolController().select(user_api="blas")


class _SingleBlasThread:
    """One BLAS thread while a fit or prediction runs, for the first of them to start.

    The BLAS thread count is global to the process, while fits may run in several
    threads at once (joblib's threading backend). A limit per call would make a call
    that starts while another one's limit holds find one thread, and restore that when it
    ends last. So the first call to start sets the limit and restores the count it found;
    calls in other threads meanwhile run under it, and after it under the user's count.
    threadpoolctl's own rule agrees: only one thread at a time may change OpenBLAS's
    count (and none while the user's ``threadpool_limits`` context holds it elsewhere,
    so the user's limit stays).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            first = not self._held
            self._held = True
        if not first:
            yield
            return
        try:
            with _blas_controller().limit(limits=1):
                yield
        finally:
            with self._lock:
                self._held = False


_single_blas_thread = _SingleBlasThread()


def forward_work(module: nn.Module, shape: Sequence[int]) -> float:
    """Multiply-adds of one forward call of ``module`` on an input of ``shape``, roughly.

    Parameters
    ----------
    module : nn.Module
        The network.
    shape : sequence of int
        Shape of the input: ``(rows, features)``, or ``(rows, steps, features)`` for
        sequences.

    Returns
    -------
    work : float
        One multiply-add per weight for every row and step.
    """
    n_weights = sum(parameter.numel() for parameter in module.parameters())
    return float(math.prod(shape[:-1])) * n_weights


@contextmanager
def compute_threads(work: float) -> Iterator[None]:
    """Run the block on one BLAS thread, and on one torch thread unless ``work`` is large.

    Torch keeps the calling thread's count (``torch.get_num_threads()``: its default, or
    what the user set) where ``work`` is at least :data:`PARALLEL_WORK`. Both counts are
    restored when the block ends.

    Parameters
    ----------
    work : float
        Multiply-adds of one torch call of the block (:func:`forward_work` of a
        minibatch for training, of the input for a prediction); 0 where no call is
        worth sharing.

    Yields
    ------
    None
    """
    found = torch.get_num_threads()
    threads = found if work >= PARALLEL_WORK else 1
    with _single_blas_thread():
        if threads == found:
            yield
            return
        # torch's count belongs to the calling thread (an OpenMP setting): fits in other
        # threads keep theirs (a thread that first uses torch meanwhile starts from it).
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(found)
