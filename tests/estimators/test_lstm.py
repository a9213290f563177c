"""IWLSTMClassifier: input forms, padding, the Gram through time, latching and digits."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_iw import IWLSTMClassifier
from sklearn_iw.datasets import make_latching, make_motif_strings
from sklearn_iw.engine._data import content_keys
from sklearn_iw.estimators._lstm_network import LSTMLayer, LSTMNetwork
from sklearn_iw.estimators._sequences import SequenceEncoder, padded_sequences
from sklearn_iw.solvers import OPTIMIZERS, Adam, ImportanceWeights, per_sample_gram

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _ragged(n=12, dims=3, seed=0, low=1, high=9):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(t), dims)) for t in rng.integers(low, high, size=n)]


def _labels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=n)


def _motif_strings(n=80, seed=0):
    """DNA strings; class 1 contains the motif 'GATA'."""
    rng = np.random.default_rng(seed)
    strings, labels = [], []
    for i in range(n):
        s = "".join(rng.choice(list("ACGT"), size=int(rng.integers(6, 12))))
        if i % 2:
            at = int(rng.integers(0, len(s) - 3))
            s = s[:at] + "GATA" + s[at + 4 :]
        strings.append(s.replace("GATA", "GTTA") if i % 2 == 0 else s)
        labels.append(i % 2)
    return strings, np.array(labels)


# ------------------------------------------------------------------ encoding
def test_windowed_encoding_matches_a_loop_transcription():
    seqs = _ragged(n=5, dims=2, seed=1)
    window = 5
    encoded = SequenceEncoder(window, None).fit(seqs)
    t_max = max(len(s) for s in seqs)
    assert encoded.shape == (5, t_max, 1 + 2 * window)
    for i, seq in enumerate(seqs):
        for t in range(t_max):
            expected = np.zeros(2 * window)
            if t < len(seq):
                for k, offset in enumerate(range(-2, 3)):
                    if 0 <= t + offset < len(seq):
                        expected[2 * k : 2 * k + 2] = seq[t + offset]
            assert encoded[i, t, 0] == (t < len(seq))
            np.testing.assert_array_equal(encoded[i, t, 1:], expected)


def test_strings_one_hot_with_learned_and_given_alphabet():
    clf = IWLSTMClassifier(hidden_size=4, max_iter=2, random_state=0)
    clf.fit(["ACGT", "GGA", "TTTTC", "CA"], [0, 1, 0, 1])
    np.testing.assert_array_equal(clf.alphabet_, ["A", "C", "G", "T"])
    assert clf.n_features_in_ == 4 and clf.input_form_ == "strings"
    encoded = clf.sequence_encoder_.transform(["GAX"])  # X is unseen: an all-zero step
    np.testing.assert_array_equal(encoded[0], [[1, 0, 0, 1, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    given = IWLSTMClassifier(hidden_size=4, max_iter=2, alphabet="TGCAN", random_state=0)
    given.fit(np.array(["ACGT", "GGA", "TTTTC", "CA"]), [0, 1, 0, 1])
    np.testing.assert_array_equal(given.alphabet_, ["A", "C", "G", "N", "T"])
    assert given.predict(["NNAC"]).shape == (1,)


def test_every_input_form_fits_and_predicts():
    rng = np.random.default_rng(0)
    y = _labels(20)
    X2 = rng.normal(size=(20, 6))
    forms = {
        "2d": (X2, X2),
        "dataframe": (pd.DataFrame(X2, columns=[f"t{i}" for i in range(6)]), None),
        "3d": (rng.normal(size=(20, 6, 3)), None),
        "ragged": (_ragged(20, dims=3), None),
        "ragged_1d": ([s[:, 0] for s in _ragged(20, dims=1)], None),
        "strings": (_motif_strings(20)[0], None),
    }
    for name, (X, _) in forms.items():
        clf = IWLSTMClassifier(hidden_size=4, max_iter=3, window=3, random_state=0)
        clf.fit(X, y)
        proba = clf.predict_proba(X)
        assert proba.shape == (20, 2), name
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(clf.predict(X)) <= set(clf.classes_)
        assert 0.0 <= clf.score(X, y) <= 1.0
    frame = forms["dataframe"][0]
    clf = IWLSTMClassifier(hidden_size=4, max_iter=2, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.n_features_in_ == 6 and clf.input_form_ == "columns"


def test_univariate_sequences_accept_2d_arrays_and_lists_alike():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 7))
    y = _labels(16)
    clf = IWLSTMClassifier(hidden_size=4, max_iter=3, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        clf.predict_proba([row[:, None] for row in X]), clf.predict_proba(X), atol=1e-12
    )
    with pytest.raises(ValueError, match="X has 5 features, but IWLSTMClassifier is expecting 7"):
        clf.predict(X[:, :5])
    # Fitted on ragged sequences, a 2D array is read as univariate sequences of any length.
    ragged = IWLSTMClassifier(hidden_size=4, max_iter=3, random_state=0)
    ragged.fit([row[: 3 + i % 4] for i, row in enumerate(X)], y)
    assert ragged.n_features_in_ == 1 and ragged.input_form_ == "sequences"
    assert ragged.predict(X[:, :5]).shape == (16,)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_padding_never_leaks(bidirectional, num_layers):
    seqs = _ragged(14, dims=2, seed=3, high=11)
    y = _labels(14)
    clf = IWLSTMClassifier(
        hidden_size=5,
        num_layers=num_layers,
        bidirectional=bidirectional,
        window=3,
        max_iter=3,
        random_state=0,
    ).fit(seqs, y)
    together = clf.predict_proba(seqs)
    alone = np.vstack([clf.predict_proba([s]) for s in seqs])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    # The same sequences padded further (a longer companion) give the same result.
    longer = seqs + [np.zeros((30, 2))]
    np.testing.assert_allclose(clf.predict_proba(longer)[:-1], together, rtol=0, atol=1e-6)


class UnrolledLSTM(torch.nn.Module):
    """Transcription of ``LSTMNetwork`` one sample and one step at a time (the oracle).

    It shares the network's parameters and reads each sequence only up to its own
    length, so it knows nothing of padding, masks, reversal or the fused kernel.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, X):
        net, hidden = self.net, self.net.hidden_size
        lengths = [int(n) for n in X[:, :, 0].sum(dim=1)]
        features = []
        for i, n in enumerate(lengths):
            x = X[i, :n, 1:]
            for layer in net.layers:
                directions = []
                for d, recurrent in enumerate(layer.recurrent_gates):
                    rows = slice(4 * hidden * d, 4 * hidden * (d + 1))
                    weight, bias = layer.input_gates.weight[rows], layer.input_gates.bias[rows]
                    h, c, states = x.new_zeros(hidden), x.new_zeros(hidden), [None] * n
                    for t in range(n) if d == 0 else reversed(range(n)):
                        pre = weight @ x[t] + bias + recurrent.weight @ h
                        in_gate, forget_gate, cell, out_gate = pre.split(hidden)
                        c = torch.sigmoid(forget_gate) * c + torch.sigmoid(in_gate) * torch.tanh(
                            cell
                        )
                        h = torch.sigmoid(out_gate) * torch.tanh(c)
                        states[t] = h
                    directions.append(torch.stack(states))
                x = torch.cat(directions, dim=1)
            if net.readout == "mean":
                features.append(x.mean(dim=0))
            elif net.readout == "max":
                features.append(x.amax(dim=0))
            else:  # forward direction after the last step, backward after the first
                features.append(torch.cat([x[n - 1, :hidden], x[0, hidden:]]))
        return net.head(torch.stack(features))


@pytest.mark.parametrize("readout", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_fused_network_equals_the_unrolled_transcription(readout, bidirectional, ragged):
    torch.manual_seed(0)
    low = 1 if ragged else 8
    X = torch.as_tensor(padded_sequences(_ragged(9, dims=3, seed=2, low=low), np.float64))
    net = LSTMNetwork(3, 4, 2, bidirectional, 0.0, 1.0, 3, readout).double()
    expected = UnrolledLSTM(net)(X)
    torch.testing.assert_close(net.train()(X), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(net.eval()(X), expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ Gram through time
@pytest.mark.parametrize("readout", ["last", "mean", "max"])
@pytest.mark.parametrize(
    ("bidirectional", "num_layers", "n_outputs", "ragged"),
    [(False, 1, 1, True), (False, 2, 3, True), (True, 1, 3, True), (True, 2, 1, True),
     (True, 2, 3, False)],
)  # fmt: skip
@pytest.mark.parametrize("path", ["fused", "loop"])
def test_gram_through_time_matches_per_sample_autograd(
    readout, bidirectional, num_layers, n_outputs, ragged, path, monkeypatch
):
    # The identity probe through the fused kernel (or the loop over time that large
    # batches and layers take) against per-sample gradients of the unrolled
    # transcription, each sample alone.
    monkeypatch.setattr(LSTMLayer, "_loop_is_cheaper", lambda self, x: path == "loop")
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    seqs = _ragged(8, dims=2, seed=4, low=1 if ragged else 11, high=12)
    X = torch.as_tensor(padded_sequences(seqs, np.float64))
    net = LSTMNetwork(2, 3, num_layers, bidirectional, 0.0, 1.0, n_outputs, readout)
    net = net.double().train()
    if n_outputs == 1:
        y = torch.as_tensor(rng.integers(0, 2, size=8), dtype=torch.float64)

        def loss(out, target):
            return F.binary_cross_entropy_with_logits(out[:, 0], target, reduction="none")
    else:
        y = torch.as_tensor(rng.integers(0, n_outputs, size=8))

        def loss(out, target):
            return F.cross_entropy(out, target, reduction="none")

    oracle, params = UnrolledLSTM(net), list(net.parameters())
    jac = torch.stack([
        torch.cat([g.flatten() for g in torch.autograd.grad(
            loss(oracle(X[i : i + 1]), y[i : i + 1]).sum(), params
        )])
        for i in range(8)
    ])  # fmt: skip
    rows, losses = per_sample_gram(net, loss, X, y, lazy=True)
    expected = jac @ jac.T
    assert torch.linalg.norm(rows.full() - expected) <= 1e-10 * torch.linalg.norm(expected)
    torch.testing.assert_close(losses, loss(oracle(X), y), rtol=0, atol=1e-12)
    # The step's weighted gradient comes from the same factors.
    alpha = torch.as_tensor(rng.uniform(0, 1, size=8))
    weighted = rows.weighted_gradients(alpha)
    flat = torch.cat([weighted[p].flatten() for p in params])
    torch.testing.assert_close(flat, alpha @ jac, rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gram_through_time_on_cuda_equals_cpu(dtype):
    # cuDNN's TF32 (on by default) would round the identity probe's gate gradients.
    torch.manual_seed(2)
    seqs = _ragged(12, dims=2, seed=5, high=30)
    X = torch.as_tensor(padded_sequences(seqs, np.float64)).to(dtype)
    y = torch.as_tensor(_labels(12, seed=5))
    net = LSTMNetwork(2, 16, 2, True, 0.0, 1.0, 2, "mean").to(dtype).train()

    def loss(out, target):
        return F.cross_entropy(out, target, reduction="none")

    cpu, _ = per_sample_gram(net, loss, X, y)
    cuda, _ = per_sample_gram(net.cuda(), loss, X.cuda(), y.cuda())
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.linalg.norm(cuda.cpu() - cpu) <= tol * torch.linalg.norm(cpu)


# ------------------------------------------------------------------ estimator behaviour
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss_on_strings(optimizer):
    X, y = _motif_strings(60)
    clf = IWLSTMClassifier(hidden_size=8, optimizer=optimizer, max_iter=10, random_state=0)
    clf.fit(X, y)
    assert np.isfinite(clf.loss_curve_).all()
    assert min(clf.loss_curve_[1:]) < clf.loss_curve_[0], clf.loss_curve_


def test_importance_weights_bookkeeping_and_bound():
    X, y = _motif_strings(60)
    clf = IWLSTMClassifier(
        hidden_size=8, optimizer=ImportanceWeights(p=0.02), max_iter=5, random_state=0
    ).fit(X, y)
    assert clf.importance_weights_.shape == (60,)
    assert len(clf.loo_bound_curve_) == clf.n_iter_
    assert 0.0 <= clf.loo_bound_ <= 1.0
    assert set(clf.support_) == set(np.flatnonzero(clf.importance_weights_ > 0)) | set(clf.support_)


def test_deterministic_with_random_state_and_pickle_round_trip():
    X, y = _ragged(30, dims=2, seed=5), _labels(30, seed=5)
    first = IWLSTMClassifier(hidden_size=6, max_iter=4, random_state=3).fit(X, y)
    second = IWLSTMClassifier(hidden_size=6, max_iter=4, random_state=3).fit(X, y)
    other = IWLSTMClassifier(hidden_size=6, max_iter=4, random_state=4).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert not np.allclose(first.predict_proba(X), other.predict_proba(X))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict_proba(X), first.predict_proba(X))
    assert len(restored.net_.history) == first.n_iter_


def test_bad_sequence_inputs_get_clear_errors():
    y = [0, 1, 0]
    clf = IWLSTMClassifier(hidden_size=4, max_iter=2)
    with pytest.raises(ValueError, match="Sequence 1 is empty"):
        clf.fit([np.ones((3, 2)), np.ones((0, 2)), np.ones((2, 2))], y)
    with pytest.raises(ValueError, match="same number of features per step"):
        clf.fit([np.ones((3, 2)), np.ones((4, 3)), np.ones((2, 2))], y)
    with pytest.raises(ValueError, match="NaN"):
        clf.fit([np.ones((3, 2)), np.full((4, 2), np.nan), np.ones((2, 2))], y)
    with pytest.raises(ValueError, match="infinity|inf"):
        clf.fit(np.full((3, 4, 2), np.inf), y)
    with pytest.raises(ValueError, match="mixes strings"):
        clf.fit(["ACG", np.ones(3), "GT"], y)
    with pytest.raises(ValueError, match="empty string"):
        clf.fit(["ACG", "", "GT"], y)
    with pytest.raises(ValueError, match="window must be odd"):
        IWLSTMClassifier(window=4).fit(["ACG", "CA", "GT"], y)
    fitted = IWLSTMClassifier(hidden_size=4, max_iter=2).fit(["ACG", "CA", "GT"], y)
    with pytest.raises(ValueError, match="fitted on strings, got numeric sequences"):
        fitted.predict(np.ones((2, 3)))
    numeric = IWLSTMClassifier(hidden_size=4, max_iter=2).fit(np.ones((3, 4, 2)), y)
    with pytest.raises(ValueError, match="3 features per step, but the model was fitted with 2"):
        numeric.predict(np.ones((2, 4, 3)))


# ------------------------------------------------------------------ accuracy
def test_latching_over_100_steps_with_importance_weights():
    X, y = make_latching(n_samples=900, seq_len=100, noise=0.1, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=400, random_state=0)
    clf = IWLSTMClassifier(
        hidden_size=16, forget_bias=3.0, batch_size=50, max_iter=10, random_state=0
    )
    clf.fit(X_train.astype(np.float32), y_train)
    assert clf.score(X_test.astype(np.float32), y_test) >= 0.99


def _splice_like(n, flank=25, seed=0, motif="GGTA", label_noise=0.03):
    """Strings of ``2 * flank + len(motif)`` letters: random ACGT flanks around a central
    word, ``motif`` for class 1 and any other word for class 0 (the motif may still occur
    by chance in the flanks: in about one string in five for a 4-letter motif); classes
    alternate, then a fraction ``label_noise`` of the labels is flipped."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    strings, y = [], np.arange(n) % 2
    for label in y:
        left, right = rng.choice(letters, flank), rng.choice(letters, flank)
        centre = motif
        while label == 0 and centre == motif:
            centre = "".join(rng.choice(letters, len(motif)))
        strings.append("".join(left) + centre + "".join(right))
    flip = rng.random(n) < label_noise
    return strings, np.where(flip, 1 - y, y)


def test_splice_like_motif_matches_positional_one_hot_logistic_regression():
    # The class sits in a motif at a fixed central position; positional one-hot features
    # give logistic regression the position for free, the LSTM must find it. With the
    # max readout over windows of 3 letters it matched or beat LR on all of seeds 0-9
    # (mean 0.951 vs 0.925); the last-step readout on 6 of 10 (docs/sequences.md).
    strings, y = _splice_like(1400, flank=25, seed=1)
    X_train, X_test, y_train, y_test = strings[:1000], strings[1000:], y[:1000], y[1000:]
    baseline = make_pipeline(
        OneHotEncoder(handle_unknown="ignore"), LogisticRegression(max_iter=2000)
    )
    letters_train = np.array([list(s) for s in X_train])  # one column per position
    letters_test = np.array([list(s) for s in X_test])
    lr_score = baseline.fit(letters_train, y_train).score(letters_test, y_test)
    clf = IWLSTMClassifier(readout="max", window=3, forget_bias=3.0, max_iter=50, random_state=1)
    lstm_score = clf.fit(X_train, y_train).score(X_test, y_test)
    assert lstm_score >= lr_score, (lstm_score, lr_score)


def test_default_estimator_solves_default_latching():
    # Hochreiter and Schmidhuber's (1997) noisy latching: the class only at the first of
    # 100 steps, then Gaussian noise of variance 0.2 (make_latching's defaults).
    X, y = make_latching(n_samples=1200, seq_len=100, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    clf = IWLSTMClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.99


@pytest.mark.parametrize("optimizer", ["importance_weights", Adam(lr=0.01)])
def test_digits_read_row_by_row(optimizer):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)  # 8 steps of 8 pixels
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = IWLSTMClassifier(hidden_size=32, optimizer=optimizer, max_iter=30, random_state=0)
        score = clf.fit(X_train, y_train).score(X_test, y_test)
    assert score >= 0.90, score


def test_batch_keys_of_sequences_do_not_depend_on_the_padding_length():
    # Keyed batches must not move when removing a sample shortens the padding.
    seqs = _ragged(20, dims=2, seed=6, high=9)
    longest = int(np.argmax([len(s) for s in seqs]))
    y = _labels(20, seed=6)
    encoder = SequenceEncoder(3, None)
    full = content_keys(encoder.fit(seqs), y)
    keep = np.arange(20) != longest
    shorter = content_keys(encoder.fit([s for i, s in enumerate(seqs) if i != longest]), y[keep])
    np.testing.assert_array_equal(shorter, full[keep])


@pytest.mark.parametrize(("readout", "bidirectional"), [("last", False), ("max", True)])
def test_leave_one_out_lemma_on_ragged_sequences(readout, bidirectional):
    # Removing a sample that was never active leaves every weight unchanged.
    seqs = _ragged(40, dims=2, seed=7, high=7)
    y = np.array([int(s[:, 0].mean() > 0) for s in seqs])  # learnable: few samples stay hard
    spec = ImportanceWeights(p=0.01, C=10.0, qp_tol=1e-10)
    params = dict(hidden_size=3, optimizer=spec, batch_size=16, max_iter=8, random_state=0)
    params.update(readout=readout, bidirectional=bidirectional)
    params.update(n_iter_no_change=1000)
    full = IWLSTMClassifier(**params).fit(seqs, y)
    inactive = np.setdiff1d(np.arange(40), full.support_)
    assert 2 <= len(inactive) < 40
    weights = [p.detach().numpy() for p in full.net_.module_.parameters()]
    for k in inactive[:3]:
        keep = [s for i, s in enumerate(seqs) if i != k]
        other = IWLSTMClassifier(**params).fit(keep, np.delete(y, k))
        for a, b in zip(weights, other.net_.module_.parameters(), strict=True):
            np.testing.assert_allclose(b.detach().numpy(), a, rtol=0, atol=1e-10)
    k = full.support_[0]  # and the test can fail: removing an active sample does move them
    keep = [s for i, s in enumerate(seqs) if i != k]
    other = IWLSTMClassifier(**params).fit(keep, np.delete(y, k))
    moved = [
        np.abs(b.detach().numpy() - a).max()
        for a, b in zip(weights, other.net_.module_.parameters(), strict=True)
    ]
    assert max(moved) > 1e-6


def test_make_latching_shapes_codes_and_parameter_checks():
    X, y = make_latching(n_samples=30, seq_len=7, n_classes=3, noise=0.5, random_state=0)
    assert X.shape == (30, 7) and np.bincount(y).tolist() == [10, 10, 10]
    np.testing.assert_array_equal(X[:, 0], np.array([-1.0, 0.0, 1.0])[y])
    for bad in (dict(n_samples=0), dict(n_classes=1), dict(noise=np.inf), dict(seq_len=2.5)):
        with pytest.raises(InvalidParameterError):
            make_latching(**bad)


def test_make_motif_strings_places_the_variants_and_flips_the_labels():
    X, y = make_motif_strings(400, 3, 4, 6, label_noise=0.0, random_state=0)
    assert X.shape == y.shape == (400,) and {len(x) for x in X} == {16}
    assert set("".join(X)) == set("ACGT") and np.bincount(y).tolist() == [200, 200]
    centres = np.array([x[6:10] for x in X])
    variants = set(centres[y == 1])
    assert len(variants) == 3 and not variants & set(centres[y == 0])
    # The same strings with noise: only labels flip, about the fraction asked.
    X_noisy, y_noisy = make_motif_strings(400, 3, 4, 6, label_noise=0.2, random_state=0)
    np.testing.assert_array_equal(X_noisy, X)
    assert 0.12 < np.mean(y_noisy != y) < 0.28
    assert np.all(np.isin(centres[y_noisy != y], list(variants)) == (y[y_noisy != y] == 1))
    for bad in (dict(n_motifs=0), dict(label_noise=0.6), dict(flank=-1), dict(alphabet=3)):
        with pytest.raises(InvalidParameterError):
            make_motif_strings(**bad)
    with pytest.raises(ValueError, match="n_motifs=4 must be below"):
        make_motif_strings(n_motifs=4, motif_length=1, alphabet="ACGT")
    with pytest.raises(ValueError, match="distinct letters"):
        make_motif_strings(alphabet="AAC")
