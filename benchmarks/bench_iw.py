"""Benchmarks of the importance-weights machinery.

Sections (one function each, selected with ``--sections``):

a. Per-sample Gram matrix: the hook fast path (``per_sample_gram``) against the
   ``torch.func`` path that materialises per-sample gradients
   (``per_sample_gram_functional``), on an MLP 64-100(relu)-10 fed with scaled digits.
b. Epoch time of IWMLPClassifier with importance weights against Adam (the anchor), same
   model (hidden (100,)) and batch size, on scaled digits: the marginal cost of an epoch,
   without the set-up of a fit.

Time to accuracy, once section c here, is ``bench_time_to_accuracy.py``.

Run with ``python benchmarks/bench_iw.py [--device cpu|cuda] [--threads both|1|default]``
(``PYTHONPATH=.`` if the package is not installed). ``--threads`` (``_threads.py``): every
time pinned to one thread (torch and numpy/scipy's BLAS, where the small-problem QP path
and the span self-influence run), at the libraries' defaults, or both (the default), in
adjacent rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from _threads import add_threads_argument, describe, each, selected
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.profiler import ProfilerActivity, profile

from sklearn_iw import IWMLPClassifier
from sklearn_iw.solvers import per_sample_gram, per_sample_gram_functional


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` in seconds, after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated by torch during ``fn`` above what was live before.

    CUDA: the caching allocator's ``max_memory_allocated``. CPU: the allocation and free
    records of ``torch.profiler(profile_memory=True)`` replayed in time order (the
    profiler sees every CPU tensor allocation, which ``tracemalloc`` does not). Both count
    tensor storage only, not allocator caching or Python objects.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with warnings.catch_warnings():
        # Newer torch warns that events are per cycle; one call is one cycle here.
        warnings.filterwarnings("ignore", message=".*Profiler clears events")
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    records = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for record in sorted(records, key=lambda e: e.start_ns()):
        live += record.nbytes()
        peak = max(peak, live)
    return peak


def _digits_batch(
    batch_size: int, device: torch.device, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A minibatch of standardised digits, drawn with replacement (1797 samples in all)."""
    data = load_digits()
    X = StandardScaler().fit_transform(data.data).astype(np.float32)
    idx = np.random.default_rng(seed).choice(len(X), size=batch_size, replace=True)
    return torch.from_numpy(X[idx]).to(device), torch.from_numpy(data.target[idx]).to(device)


def _cross_entropy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output, y, reduction="none")


def section_gram(
    device: torch.device,
    repeats: int,
    settings: tuple[str, ...],
    batch_sizes: Sequence[int] = (100, 500, 2000),
) -> None:
    """(a) Gram matrix of per-sample gradients: hook fast path versus ``torch.func``."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10)).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"(a) per-sample Gram, MLP 64-100(relu)-10 ({n_params} params), float32, {device}; "
        f"median of {repeats} after warm-up. fast = per_sample_gram (hooked forward + one "
        "backward, also returns the losses); func = per_sample_gram_functional (vmap(grad))."
    )
    print("    peak = torch tensor bytes live at the peak of the call, above the baseline.")
    header = (
        f"{'B':>6} {'threads':>7} {'fast ms':>9} {'func ms':>9} {'speed-up':>9} "
        f"{'fast MiB':>9} {'func MiB':>9} {'mem ratio':>9} {'rel err':>9}"
    )
    print(header)
    print("-" * len(header))
    for batch_size in batch_sizes:
        X, y = _digits_batch(batch_size, device)

        def fast(X: torch.Tensor = X, y: torch.Tensor = y) -> torch.Tensor:
            return per_sample_gram(model, _cross_entropy, X, y)[0]

        def func(X: torch.Tensor = X, y: torch.Tensor = y) -> torch.Tensor:
            return per_sample_gram_functional(model, _cross_entropy, X, y)

        reference = func()
        rel_err = ((fast() - reference).abs().max() / reference.abs().max()).item()
        times = each(
            settings,
            lambda fast=fast, func=func: (
                median_time(fast, device, repeats),
                median_time(func, device, repeats),
            ),
        )
        m_fast = peak_memory(fast, device)
        m_func = peak_memory(func, device)
        for setting, (t_fast, t_func) in times.items():
            print(
                f"{batch_size:>6} {setting:>7} {1e3 * t_fast:>9.2f} {1e3 * t_func:>9.2f} "
                f"{t_func / t_fast:>8.1f}x {m_fast / 2**20:>9.2f} {m_func / 2**20:>9.2f} "
                f"{m_func / m_fast:>8.1f}x {rel_err:>9.1e}"
            )
    print()


def _scaled_split(X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return [scaler.transform(X_train), scaler.transform(X_test), y_train, y_test]


def _fixed_epochs(optimizer: str, epochs: int, device: torch.device, **params) -> IWMLPClassifier:
    return IWMLPClassifier(
        optimizer=optimizer,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        device=device.type,
        random_state=0,
        **params,
    )


def section_epoch_time(device: torch.device, repeats: int, settings: tuple[str, ...]) -> None:
    """b. Seconds per epoch of importance weights against Adam, same model and batches.

    The marginal cost of an epoch, (time of 6 epochs - time of 2 epochs) / 4 with the best
    of ``max(repeats // 5, 3)`` fits each, so that the set-up of a fit is not counted.
    """
    X_train, _, y_train, _ = _scaled_split(*load_digits(return_X_y=True))
    X_train = X_train.astype(np.float32)
    n_timed = max(repeats // 5, 3)
    print(
        f"\n(b) epoch time, MLP 64-100-10 on digits ({len(X_train)} training samples), "
        f"float32, (6 epochs - 2 epochs) / 4, best of {n_timed}"
    )
    print(f"{'batch':>6} {'threads':>7} {'adam s/epoch':>13} {'IW s/epoch':>11} {'ratio':>6}")
    for batch in (32, 100, 200, 500):

        def epoch_seconds(optimizer: str, batch: int = batch) -> float:
            def fit(epochs: int) -> float:
                estimator = _fixed_epochs(
                    optimizer, epochs, device, hidden_layer_sizes=(100,), batch_size=batch
                )
                _synchronize(device)
                start = time.perf_counter()
                estimator.fit(X_train, y_train)
                _synchronize(device)
                return time.perf_counter() - start

            fit(1)  # warm up
            short = min(fit(2) for _ in range(n_timed))
            long = min(fit(6) for _ in range(n_timed))
            return (long - short) / 4

        per_setting = each(
            settings,
            lambda epoch_seconds=epoch_seconds: {
                optimizer: epoch_seconds(optimizer) for optimizer in ("adam", "importance_weights")
            },
        )
        for setting, per_epoch in per_setting.items():
            ratio = per_epoch["importance_weights"] / per_epoch["adam"]
            print(
                f"{batch:>6} {setting:>7} {per_epoch['adam']:>13.4f} "
                f"{per_epoch['importance_weights']:>11.4f} {ratio:>6.2f}"
            )


SECTIONS: dict[str, Callable[[torch.device, int, tuple[str, ...]], None]] = {
    "a": section_gram,
    "b": section_epoch_time,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the selected sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per case")
    add_threads_argument(parser)
    parser.add_argument(
        "--sections", default="".join(SECTIONS), help="letters of the sections to run"
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    settings = selected(args.threads)
    device = torch.device(args.device)
    # Sections b and c cap the epochs on purpose.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"torch {torch.__version__}; {describe(settings)}")
    for letter in args.sections:
        SECTIONS[letter](device, args.repeats, settings)


if __name__ == "__main__":
    main()
