"""Keyed batches: sample keys follow content, copies spread over the batches, and deleting a
sample keeps the other samples' batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn_iw.engine._data import TensorBatches, TensorData, content_keys, sample_keys

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# =========================================================================== keyed batches
def _keyed_data(X: np.ndarray, y: np.ndarray):
    return TensorData(
        torch.as_tensor(X),
        torch.as_tensor(y),
        torch.ones(len(X), dtype=torch.float64),
        content_keys(X, y),
    )


def _partitions(X, y, batch_size, seed, n_epochs, check_rows=False):
    """The batches of each epoch, as a set of frozensets of content keys."""
    data = _keyed_data(X, y)
    batches = TensorBatches(data, batch_size, shuffle=True, seed=seed)
    epochs = []
    for _ in range(n_epochs):
        seen, partition = [], set()
        for xb, (yb, wb, index) in batches:
            idx = index.numpy()
            if check_rows:  # a batch carries the rows its indices name
                np.testing.assert_array_equal(xb.numpy(), X[idx])
                np.testing.assert_array_equal(yb.numpy(), y[idx])
                np.testing.assert_array_equal(wb.numpy(), np.ones(len(idx)))
            assert len(idx) > 0
            seen.extend(idx.tolist())
            partition.add(frozenset(data.key[idx].tolist()))
        # Every sample exactly once per epoch: the batches partition the data.
        assert sorted(seen) == list(range(len(X)))
        epochs.append(partition)
    return epochs


@pytest.fixture(scope="module")
def keyed_sample():
    rng = np.random.RandomState(3)
    X = rng.randn(50, 3)
    y = rng.randint(0, 3, size=50)
    return X, y


def test_content_keys_follow_content_not_position(keyed_sample):
    X, y = keyed_sample
    keys = content_keys(X, y)
    assert keys.dtype == np.uint64 and len(np.unique(keys)) == len(X)
    perm = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_array_equal(content_keys(X[perm], y[perm]), keys[perm])
    keep = np.arange(len(X)) != 17
    np.testing.assert_array_equal(content_keys(X[keep], y[keep]), keys[keep])
    # The label and every feature bit are part of the key; equal rows get equal keys.
    y2 = y.copy()
    y2[4] = (y2[4] + 1) % 3
    changed = content_keys(X, y2) != keys
    assert changed.tolist() == [i == 4 for i in range(len(X))]
    X2 = X.copy()
    X2[9, 2] = np.nextafter(X2[9, 2], np.inf)
    assert (content_keys(X2, y) != keys).tolist() == [i == 9 for i in range(len(X))]
    twice = content_keys(np.vstack([X, X[:3]]), np.r_[y, y[:3]])
    np.testing.assert_array_equal(twice[-3:], keys[:3])


def test_sample_keys_tell_copies_apart_and_name_the_last_as_stand_in(keyed_sample):
    X, y = keyed_sample
    copies = np.r_[0:50, 3, 7, 3, 3]  # row 3 four times, row 7 twice
    Xc, yc = X[copies], y[copies]
    keys, stand_in = sample_keys(Xc, yc)
    content = content_keys(Xc, yc)
    assert len(np.unique(keys)) == len(Xc)  # every copy its own batch key
    first = np.r_[np.ones(50, dtype=bool), False, False, False, False]
    np.testing.assert_array_equal(keys[first], content[first])  # first copies: content key
    expected = np.arange(len(Xc))
    expected[[3, 50, 52]] = 53
    expected[7] = 51
    np.testing.assert_array_equal(stand_in, expected)
    # Deleting any copy leaves the keys of the full data without the last copy.
    for k in (3, 50, 52, 53, 7, 51):
        keep = np.arange(len(Xc)) != k
        reduced, _ = sample_keys(Xc[keep], yc[keep])
        # (Copies are interchangeable: the keys match as a set, not position by position.)
        assert sorted(reduced.tolist()) == sorted(np.delete(keys, stand_in[k]).tolist())
    # The weight is part of a sample's content: unequal weights make unequal samples.
    weighted, stand_in_w = sample_keys(Xc, yc, np.r_[np.ones(53), 2.0])
    assert stand_in_w[53] == 53 and stand_in_w[3] == 52
    assert weighted[53] != keys[53]


def test_copies_of_a_row_spread_over_the_batches():
    """Equal samples in one batch would make each step fit a few rows (tables with
    categorical features): copies are spread like distinct samples."""
    rng = np.random.RandomState(0)
    X = np.repeat(rng.randn(4, 2), 50, axis=0)
    y = np.repeat([0, 1, 0, 1], 50)
    keys, _ = sample_keys(X, y)
    data = TensorData(torch.as_tensor(X), torch.as_tensor(y), torch.ones(200), keys)
    for _, (_, _, index) in TensorBatches(data, 20, shuffle=True, seed=0):
        rows = np.unique(X[index.numpy()], axis=0)
        assert len(rows) >= 3, "a batch should hold most of the four distinct rows"


def test_keyed_batches_survive_deleting_any_sample(keyed_sample):
    X, y = keyed_sample
    batch_size, n_epochs = 8, 4  # 50 and 49 samples both make 7 batches
    assert -(-len(X) // batch_size) == -(-(len(X) - 1) // batch_size)
    full = _partitions(X, y, batch_size, seed=11, n_epochs=n_epochs, check_rows=True)
    keys = content_keys(X, y)
    # A new partition each epoch, and a different one for another seed.
    assert len({frozenset(p) for p in full}) == n_epochs
    assert _partitions(X, y, batch_size, seed=12, n_epochs=1)[0] != full[0]
    assert len({len(b) for p in full for b in p}) > 1  # hashed buckets: sizes vary around 8
    for k in range(len(X)):
        keep = np.arange(len(X)) != k
        reduced = _partitions(X[keep], y[keep], batch_size, seed=11, n_epochs=n_epochs)
        for epoch in range(n_epochs):
            expected = {b - {keys[k]} for b in full[epoch]} - {frozenset()}
            assert reduced[epoch] == expected, (k, epoch)


def test_keyed_batches_continue_with_new_epochs(keyed_sample):
    """``first_epoch`` resumes the sequence of partitions (continued fits)."""
    X, y = keyed_sample
    data = _keyed_data(X, y)
    run = [
        {
            frozenset(data.key[i.numpy()].tolist())
            for _, (_, _, i) in TensorBatches(data, 8, shuffle=True, seed=5, first_epoch=e)
        }
        for e in range(3)
    ]
    batches = TensorBatches(data, 8, shuffle=True, seed=5)
    for epoch in range(3):
        assert {frozenset(data.key[i.numpy()].tolist()) for _, (_, _, i) in batches} == run[epoch]
