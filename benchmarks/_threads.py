"""Thread settings of the benchmarks: each figure pinned to one thread and at the defaults.

Every script takes ``--threads``:

- ``1`` (pinned): torch's intra-op threads and, through threadpoolctl, the threads of
  every BLAS and OpenMP library loaded (numpy's and scipy's OpenBLAS, and scikit-learn's
  anchors with them) are limited to one while a figure is measured;
- ``default``: the libraries' own counts (torch: one per core; OpenBLAS: one per core),
  which the estimators lower inside ``fit`` and ``predict`` where that is faster
  (``sklearn_iw/engine/_threads.py``): what a user gets who sets nothing;
- ``both`` (the default): every figure under each of the two, one right after the other,
  printed side by side (a ``threads`` column, or one column per setting).

Pinned figures are the ones to compare across commits on a shared machine; default ones
say what a user sees.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")
PINNED, DEFAULT = "1", "default"
SETTINGS = (PINNED, DEFAULT)


def add_threads_argument(parser: argparse.ArgumentParser, default: str = "both") -> None:
    """Add ``--threads {both,1,default}`` to ``parser``."""
    parser.add_argument(
        "--threads",
        choices=("both", *SETTINGS),
        default=default,
        help="1: torch and BLAS pinned to one thread; default: the libraries' own counts; "
        f"both: each figure under the two, side by side (default: {default})",
    )


def selected(choice: str) -> tuple[str, ...]:
    """The settings that ``--threads choice`` measures."""
    return SETTINGS if choice == "both" else (choice,)


@contextmanager
def threads(setting: str) -> Iterator[None]:
    """Run the block pinned to one thread (``'1'``) or at the defaults (``'default'``)."""
    if setting == DEFAULT:
        yield
        return
    found = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(found)


def each(settings: tuple[str, ...], measure: Callable[[], T]) -> dict[str, T]:
    """``measure()`` under each setting, one right after the other."""
    results = {}
    for setting in settings:
        with threads(setting):
            results[setting] = measure()
    return results


def describe(settings: tuple[str, ...]) -> str:
    """One line on the machine and what each setting means on it, for a script's header."""
    blas = sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})
    meaning = {
        PINNED: "1 = torch and BLAS pinned to one thread",
        DEFAULT: f"default = the libraries' own (torch {torch.get_num_threads()}, "
        f"BLAS {'/'.join(map(str, blas)) or '-'})",
    }
    return (
        f"threads: {'; '.join(meaning[s] for s in settings)}. {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
