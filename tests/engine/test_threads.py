"""Thread settings of fits and predictions (``engine/_threads.py``).

A fit or a prediction runs on one BLAS thread, and on one torch thread unless a call's
work is large, and leaves the user's settings as it found them. conftest.py pins both
counts to 1 for the whole session, where nothing could tell a fit that changed them from
one that did not: these tests set their own counts (3) first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from threadpoolctl import OpenBLASController, threadpool_info, threadpool_limits

import sklearn_iw.engine._threads as threads_module
import sklearn_iw.estimators._base as base_module
from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.engine._threads import compute_threads
from sklearn_iw.estimators._base import BaseIWEstimator
from sklearn_iw.loo._attributes import LeaveOneOutRecord

USER_THREADS = 3


def blas_threads() -> list[int]:
    """The thread count of every BLAS library loaded (numpy's and scipy's OpenBLAS)."""
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def settings() -> tuple[int, list[int]]:
    """torch's thread count (of the calling thread) and the BLAS libraries'."""
    return torch.get_num_threads(), blas_threads()


@pytest.fixture
def user_threads() -> Iterator[tuple[int, list[int]]]:
    """torch and BLAS at ``USER_THREADS`` threads as a user set them; the session's counts
    are restored afterwards."""
    session_torch = torch.get_num_threads()
    with threadpool_limits(limits=USER_THREADS, user_api="blas"):
        torch.set_num_threads(USER_THREADS)
        try:
            yield settings()
        finally:
            torch.set_num_threads(session_torch)


@pytest.fixture
def seen(monkeypatch) -> list[tuple[int, list[int]]]:
    """The settings inside each fit (at its end, when the epochs have run), each
    prediction's forward pass and each computation of the leave-one-out estimate."""
    calls = []

    def recorded(function):
        def call(*args):
            calls.append(settings())
            return function(*args)

        return call

    monkeypatch.setattr(
        BaseIWEstimator, "_record_history", recorded(BaseIWEstimator._record_history)
    )
    monkeypatch.setattr(base_module, "eval_forward", recorded(base_module.eval_forward))
    monkeypatch.setattr(LeaveOneOutRecord, "settle", recorded(LeaveOneOutRecord.settle))
    return calls


def _data(estimator) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6, 3) if isinstance(estimator, IWLSTMClassifier) else (60, 4))
    y = (X.reshape(len(X), -1)[:, 0] > 0).astype(int)
    return X.astype(np.float32), y


ESTIMATORS = [
    IWLogisticRegression(max_iter=3, random_state=0),
    IWMLPClassifier(hidden_layer_sizes=(8,), optimizer="adam", max_iter=3, random_state=0),
    IWLSTMClassifier(hidden_size=4, max_iter=2, random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:loo_estimate_ is NaN")
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_fit_and_predict_run_on_one_thread_and_restore_the_settings(estimator, user_threads, seen):
    X, y = _data(estimator)
    estimator.fit(X, y)
    assert settings() == user_threads
    estimator.partial_fit(X, y)
    assert settings() == user_threads
    estimator.predict(X)
    estimator.predict_proba(X)
    estimator.loo_estimate_  # noqa: B018 (computes it; NaN with a warning for Adam)
    assert settings() == user_threads
    # Two fits, two predictions, the estimate: each ran on one thread of each pool.
    assert seen == [(1, [1] * len(user_threads[1]))] * 5


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_large_work_keeps_the_users_torch_threads(user_threads, seen, monkeypatch):
    monkeypatch.setattr(threads_module, "PARALLEL_WORK", 0.0)
    estimator = IWMLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    X, y = _data(estimator)
    estimator.fit(X, y).predict(X)
    assert seen == [(USER_THREADS, [1] * len(user_threads[1]))] * 2
    assert settings() == user_threads


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_user_limit_of_one_thread_holds(seen, monkeypatch):
    # The session's settings (conftest.py): one torch and one BLAS thread. Large work
    # keeps torch's count, which must not rise above the user's.
    monkeypatch.setattr(threads_module, "PARALLEL_WORK", 0.0)
    before = settings()
    assert before == (1, [1] * len(before[1]))
    estimator = IWMLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    X, y = _data(estimator)
    estimator.fit(X, y).predict(X)
    assert seen == [before] * 2
    assert settings() == before


@pytest.fixture
def unheld_blas_threads() -> Iterator[list[int]]:
    """BLAS at ``USER_THREADS`` threads with no thread holding threadpoolctl's right to
    change it, as after a start with ``OPENBLAS_NUM_THREADS=3``: a call in any thread can
    then set it. conftest.py's one thread, set from the main thread, comes back after."""
    limiter = threadpool_limits(limits=USER_THREADS, user_api="blas")
    # threadpoolctl 3.8 lets one thread at a time change OpenBLAS's count, the last one to
    # change it outside a context (conftest.py's main thread) until it ends.
    OpenBLASController.clear_controlling_thread(force=True)
    yield blas_threads()
    limiter.restore_original_limits()


def test_overlapping_calls_in_threads_restore_the_users_blas_threads(unheld_blas_threads):
    # The first call ends while the second still runs: a call that saved the count it
    # found (the first call's limit) and restored it last would leave one thread behind.
    entered = [threading.Event(), threading.Event()]
    release = [threading.Event(), threading.Event()]
    inside = {}

    def call(i: int) -> None:
        with compute_threads(0.0):
            inside[i] = settings()
            entered[i].set()
            release[i].wait(timeout=10)

    workers = [threading.Thread(target=call, args=(i,)) for i in (0, 1)]
    for worker, event in zip(workers, entered, strict=True):
        worker.start()
        event.wait(timeout=10)
    for worker, event in zip(workers, release, strict=True):
        event.set()
        worker.join(timeout=10)
    one = [1] * len(unheld_blas_threads)
    assert inside == {0: (1, one), 1: (1, one)}
    assert blas_threads() == unheld_blas_threads
