"""IWLSTMClassifier benchmarks: latching lags, fit time against skorch, the IW step's cost.

(a) Latching (``make_latching``, noise 0.1, 500 training and 400 test sequences, hidden
    16, batch 50, ``forget_bias`` = max(3, ln(seq_len))): for each optimizer, the sequence
    lengths it solves (>= 95% test accuracy) within the time budget, the epochs and
    seconds it needed. Lengths are tried in increasing order and an optimizer stops at
    its first failure.
(b) Fit time of ``IWLSTMClassifier(optimizer=Adam)`` against a stock skorch
    ``NeuralNetClassifier`` wrapping ``torch.nn.LSTM`` and a linear head (anchor), same
    data, hidden size, batch size, learning rate and epochs: equal lengths (latching
    2000 x 50), and ragged sequences (25 to 50 steps) that the stock model packs with
    ``pack_padded_sequence`` as skorch users do.
(c) The per-sample Gram through time (the fused kernel with the identity probe, or the
    loop over time where that is cheaper; factors and Gram rows) against one forward and
    backward of the same batch (the anchor, Adam's work per batch), float32, one layer.
(d) Seconds per epoch of importance weights against Adam (the anchor) on latching
    (500 sequences of T steps, hidden 16, ``forget_bias=3``, batch 50) at T = 100 and
    1000: the marginal cost of an epoch, (time of 6 epochs - time of 2 epochs) / 4, best
    of 3.

Run ``python benchmarks/bench_lstm.py`` on an idle machine; ``--quick`` shortens (a) to
a one-minute budget and lengths 100 and 300. ``--threads`` (``_threads.py``): every
figure pinned to one thread (torch and BLAS), at the libraries' defaults, or both (the
default), the two settings of a row in adjacent rows.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from _threads import add_threads_argument, describe, each, selected
from skorch import NeuralNetClassifier
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from sklearn_iw import IWLSTMClassifier
from sklearn_iw.datasets import make_latching
from sklearn_iw.estimators._lstm_network import LSTMNetwork
from sklearn_iw.estimators._sequences import padded_sequences
from sklearn_iw.solvers import SGD, Adam, per_sample_gram

OPTIMIZERS = {
    "importance_weights": lambda: "importance_weights",
    "adam": lambda: Adam(lr=0.01),
    "sgd": lambda: SGD(lr=1.0),
}


def latching(
    budget: float, lengths: list[int], names: list[str], settings: tuple[str, ...]
) -> None:
    """Print, for each optimizer and thread setting, the lengths solved in order until the
    first failure under that setting."""
    for name in names:
        failed: set[str] = set()
        for seq_len in lengths:
            live = tuple(setting for setting in settings if setting not in failed)
            if not live:
                break
            for setting, (accuracy, epochs, seconds) in each(
                live, partial(_solve_latching, name, seq_len, budget)
            ).items():
                print(
                    f"| {name} | {seq_len} | {setting} | {'yes' if accuracy >= 0.95 else 'no'} | "
                    f"{accuracy:.3f} | {epochs} | {seconds:.0f} |",
                    flush=True,
                )
                if accuracy < 0.95:
                    failed.add(setting)


def _solve_latching(name: str, seq_len: int, budget: float) -> tuple[float, int, float]:
    """Train epoch by epoch until 95% test accuracy or the budget; return the accuracy,
    the epochs and the seconds."""
    X, y = make_latching(900, seq_len, noise=0.1, random_state=0)
    X = X.astype(np.float32)
    X_train, y_train, X_test, y_test = X[:500], y[:500], X[500:], y[500:]
    clf = IWLSTMClassifier(
        hidden_size=16,
        # The forget gates keep about 1/e of the cell over seq_len steps at start.
        forget_bias=max(3.0, math.log(seq_len)),
        batch_size=50,
        max_iter=1,
        warm_start=True,
        optimizer=OPTIMIZERS[name](),
        random_state=0,
    )
    start, accuracy, epochs = time.perf_counter(), 0.0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while time.perf_counter() - start < budget and accuracy < 0.95:
            clf.fit(X_train, y_train)
            epochs += 1
            accuracy = clf.score(X_test, y_test)
    return accuracy, epochs, time.perf_counter() - start


class _StockLSTM(nn.Module):
    """``nn.LSTM`` and a linear head on the last state; ragged input is packed."""

    def __init__(self, hidden_size: int, n_classes: int):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, X, lengths=None):
        X = X.unsqueeze(2)
        if lengths is not None:
            X = pack_padded_sequence(X, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(X)
        return self.head(h_n[-1])


def fit_time(repeats: int) -> list[tuple[str, float]]:
    X, y = make_latching(2000, 50, noise=0.1, random_state=0)
    X = X.astype(np.float32)
    lengths = np.random.default_rng(0).integers(25, 51, size=len(X))
    ragged = [row[:n] for row, n in zip(X, lengths, strict=True)]
    padded = {"X": X * (np.arange(50) < lengths[:, None]), "lengths": lengths}
    hidden, epochs, batch, lr = 32, 10, 200, 0.01

    def ours(X):
        IWLSTMClassifier(
            hidden_size=hidden,
            optimizer=Adam(lr=lr),
            batch_size=batch,
            max_iter=epochs,
            n_iter_no_change=epochs,
            random_state=0,
        ).fit(X, y)

    def stock(X):
        torch.manual_seed(0)
        NeuralNetClassifier(
            _StockLSTM,
            module__hidden_size=hidden,
            module__n_classes=2,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=lr,
            batch_size=batch,
            max_epochs=epochs,
            train_split=None,
            iterator_train__shuffle=True,
            verbose=0,
        ).fit(X, y)

    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, run in (
            ("skorch NeuralNetClassifier + nn.LSTM, equal lengths", partial(stock, X)),
            ("IWLSTMClassifier, equal lengths", partial(ours, X)),
            ("skorch + nn.LSTM, ragged (packed)", partial(stock, padded)),
            ("IWLSTMClassifier, ragged (list of arrays)", partial(ours, ragged)),
        ):
            run()  # warm up
            best = min(_timed(run) for _ in range(repeats))
            results.append((name, best))
    return results


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def gram_time(repeats: int) -> list[tuple[int, int, int, float, float]]:
    rows = []
    rng = np.random.default_rng(0)
    for batch, steps, hidden in ((50, 50, 16), (50, 100, 16), (200, 50, 32), (50, 1000, 16)):
        torch.manual_seed(0)
        seqs = [rng.normal(size=(steps, 1)) for _ in range(batch)]
        X = torch.as_tensor(padded_sequences(seqs, np.float32))
        y = torch.as_tensor(rng.integers(0, 2, size=batch))
        net = LSTMNetwork(1, hidden, 1, False, 0.0, 3.0, 2).train()

        gram_s = min(_timed(partial(_gram, net, X, y)) for _ in range(repeats))
        anchor = min(_timed(partial(_forward_backward, net, X, y)) for _ in range(repeats))
        rows.append((batch, steps, hidden, gram_s, anchor))
    return rows


def _loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, target, reduction="none")


def _gram(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> None:
    rows, _ = per_sample_gram(net, _loss, X, y, lazy=True)
    rows.full()


def _forward_backward(net: nn.Module, X: torch.Tensor, y: torch.Tensor) -> None:
    _loss(net(X), y).mean().backward()


def epoch_time(repeats: int, steps: int) -> list[tuple[str, float]]:
    X, y = make_latching(500, steps, noise=0.1, random_state=0)
    X = X.astype(np.float32)

    def fit(optimizer, epochs: int) -> None:
        IWLSTMClassifier(
            hidden_size=16,
            forget_bias=3.0,
            batch_size=50,
            max_iter=epochs,
            n_iter_no_change=epochs,
            optimizer=optimizer,
            random_state=0,
        ).fit(X, y)

    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("adam", "importance_weights"):
            make = OPTIMIZERS[name]
            fit(make(), 1)  # warm up
            short = min(_timed(partial(fit, make(), 2)) for _ in range(repeats))
            long = min(_timed(partial(fit, make(), 6)) for _ in range(repeats))
            results.append((name, (long - short) / 4))
    return results


def _print_ratios(
    per_setting: dict[str, list[tuple[str, float]]], what: str, unit: str, anchor: str
) -> None:
    """A markdown table of ``(name, seconds)`` rows, the thread settings of each name in
    adjacent rows, with the ratio to the first row of the same setting."""
    print(f"| {what} | threads | {unit} | ratio to {anchor} |")
    print("|---|---|---|---|")
    names = [name for name, _ in next(iter(per_setting.values()))]
    for i, name in enumerate(names):
        for setting, results in per_setting.items():
            seconds, first = results[i][1], results[0][1]
            print(f"| {name} | {setting} | {seconds:.3f} | {seconds / first:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_threads_argument(parser)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per fit in (a)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", default="abcd")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="of (a)")
    parser.add_argument("--lengths", default="100,300,1000,3000,10000", help="of (a)")
    args = parser.parse_args()
    settings = selected(args.threads)
    lengths = [100, 300] if args.quick else [int(n) for n in args.lengths.split(",")]
    budget = 60.0 if args.quick else args.budget
    print(f"torch {torch.__version__}; {describe(settings)}\n")
    if "a" in args.sections:
        print(f"(a) latching, noise 0.1, budget {budget:.0f} s per fit")
        print("| optimizer | seq_len | threads | solved | test accuracy | epochs | seconds |")
        print("|---|---|---|---|---|---|---|")
        latching(budget, lengths, args.optimizers.split(","), settings)
        print()
    if "b" in args.sections:
        print("(b) fit time, latching 2000 x 50, hidden 32, Adam(0.01), batch 200, 10 epochs")
        results = each(settings, partial(fit_time, repeats=3))
        for part in (slice(0, 2), slice(2, 4)):
            per_setting = {setting: rows[part] for setting, rows in results.items()}
            _print_ratios(per_setting, "model", "seconds", "skorch")
        print()
    if "c" in args.sections:
        print("(c) per-sample Gram through time, float32")
        print("| batch | steps | hidden | threads | Gram ms | forward+backward ms | ratio |")
        print("|---|---|---|---|---|---|---|")
        results = each(settings, partial(gram_time, repeats=5))
        for i, (batch, steps, hidden, _, _) in enumerate(results[settings[0]]):
            for setting, rows in results.items():
                gram, anchor = rows[i][3:]
                print(
                    f"| {batch} | {steps} | {hidden} | {setting} | {1e3 * gram:.1f} "
                    f"| {1e3 * anchor:.1f} | {gram / anchor:.2f} |"
                )
        print()
    if "d" in args.sections:
        for steps in (100, 1000):
            print(f"(d) seconds per epoch, latching 500 x {steps}, hidden 16, batch 50")
            per_setting = each(settings, partial(epoch_time, repeats=3, steps=steps))
            _print_ratios(per_setting, "optimizer", "s/epoch", "Adam")
            print()


if __name__ == "__main__":
    main()
