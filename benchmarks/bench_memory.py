"""Peak memory of IWMLPClassifier.fit over the size of its training data.

1,000,000 x 20 features, hidden (100,), batch 512, a few epochs on the CPU; with
``--scale``, 50,000 / 100,000 / 200,000 x 50 features at batch 200, importance weights
against Adam: seconds per epoch and peak memory, to show both grow linearly in n. Each
configuration runs in a fresh subprocess: the data are made, a tiny warm-up fit loads
torch's lazy parts, then the resident set size (RSS) before ``fit`` is subtracted from the
peak RSS during ``fit``. The peak is the kernel's high-water mark (``VmHWM``, reset just
before ``fit`` through ``/proc/self/clear_refs``) where the kernel allows the reset, and
in any case a background thread's samples of ``/proc/self/statm`` every millisecond. The
target is a peak of at most 3x the data: the training set is not copied more than once
at a time (float64 input is trained on in float64, without conversion).

Usage: python benchmarks/bench_memory.py [--n-samples 1000000] [--epochs 2]
[--threads both|1|default] [--scale]

``--threads`` (``_threads.py``): each configuration's child pinned to one thread (torch and
BLAS), at the libraries' defaults, or both (the default), in adjacent rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
from _threads import add_threads_argument, describe, selected, threads

PAGE = os.sysconf("SC_PAGE_SIZE")
CONFIGS = [
    ("importance_weights", "float32"),
    ("adam", "float32"),
    ("adam", "float64"),
]
# --scale: (n_samples, n_features, batch_size) of each row; float32.
SCALE_SIZES = [(50_000, 50, 200), (100_000, 50, 200), (200_000, 50, 200)]
SCALE_OPTIMIZERS = ("importance_weights", "adam")


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def reset_high_water_mark() -> bool:
    """Reset the kernel's peak RSS of this process; False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def high_water_mark() -> int:
    """The kernel's peak RSS (``VmHWM``) of this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


class PeakSampler(threading.Thread):
    """Samples the RSS every millisecond until stopped; ``peak`` is the largest sample."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = rss_bytes()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.001):
            self.peak = max(self.peak, rss_bytes())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, rss_bytes())
        return self.peak


def measure(
    optimizer: str, dtype: str, n_samples: int, epochs: int, n_features: int, batch_size: int
) -> dict:
    """Fit once in this process; return the data size and the fit's peak extra RSS."""
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_iw import IWMLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    if dtype == "float64":
        X = X.astype(np.float64)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n_samples) > 0).astype(np.int64)

    def estimator(max_iter):
        return IWMLPClassifier(
            optimizer=optimizer,
            batch_size=batch_size,
            max_iter=max_iter,
            tol=0.0,
            n_iter_no_change=max_iter + 1,
            device="cpu",
            random_state=0,
        )

    estimator(1).fit(X[:2000], y[:2000])  # warm-up: torch's lazily loaded parts
    before = rss_bytes()
    kernel_peak = reset_high_water_mark()
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    estimator(epochs).fit(X, y)
    seconds = time.perf_counter() - start
    peak = sampler.stop()
    if kernel_peak:
        peak = max(peak, high_water_mark())
    return {
        "optimizer": optimizer,
        "dtype": dtype,
        "data_bytes": X.nbytes,
        "extra_bytes": peak - before,
        "kernel_peak": kernel_peak,
        "seconds": seconds,
    }


def run_child(optimizer, dtype, n_samples, n_features, batch_size, epochs, setting) -> dict:
    """:func:`measure` in a fresh subprocess (its own peak RSS)."""
    command = [sys.executable, __file__, "--child", optimizer, dtype]
    command += ["--n-samples", str(n_samples), "--n-features", str(n_features)]
    command += ["--batch-size", str(batch_size), "--epochs", str(epochs), "--threads", setting]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--scale", action="store_true", help="the 50k-200k x 50 rows, batch 200, IW and Adam"
    )
    add_threads_argument(parser)
    parser.add_argument("--child", nargs=2, metavar=("OPTIMIZER", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one setting: the parent passes it
        with threads(args.threads):
            shape = (args.n_samples, args.epochs, args.n_features, args.batch_size)
            print(json.dumps(measure(*args.child, *shape)))
        return
    settings = selected(args.threads)
    if args.scale:
        rows = [
            (optimizer, "float32", n, features, batch)
            for n, features, batch in SCALE_SIZES
            for optimizer in SCALE_OPTIMIZERS
        ]
        title = "50k-200k x 50, batch 200"
    else:
        rows = [
            (optimizer, dtype, args.n_samples, args.n_features, args.batch_size)
            for optimizer, dtype in CONFIGS
        ]
        title = f"{args.n_samples} x {args.n_features}, batch {args.batch_size}"
    print(
        f"IWMLPClassifier.fit, {title}, hidden (100,), {args.epochs} epochs: peak RSS during "
        f"fit minus RSS before it; {describe(settings)}"
    )
    print(
        f"{'optimizer':<20} {'X dtype':<8} {'n':>8} {'threads':>7} {'X MB':>7} "
        f"{'extra MB':>9} {'x data':>7} {'s/epoch':>8}"
    )
    for optimizer, dtype, n_samples, n_features, batch_size in rows:
        for setting in settings:
            row = run_child(
                optimizer, dtype, n_samples, n_features, batch_size, args.epochs, setting
            )
            data_mb, extra_mb = row["data_bytes"] / 2**20, row["extra_bytes"] / 2**20
            print(
                f"{optimizer:<20} {dtype:<8} {n_samples:>8} {setting:>7} {data_mb:>7.0f} "
                f"{extra_mb:>9.0f} {extra_mb / data_mb:>7.2f} "
                f"{row['seconds'] / args.epochs:>8.2f}"
            )
    if not row["kernel_peak"]:
        print("(VmHWM could not be reset: the peak is the sampled one)")


if __name__ == "__main__":
    main()
