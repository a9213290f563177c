"""Every estimator on what users get wrong: bad inputs and parameters, persistence, determinism."""

from __future__ import annotations

import contextlib
import io
import pickle
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.serialization
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError, make_constraint

from sklearn_iw import IWLogisticRegression
from sklearn_iw.solvers import OPTIMIZERS, SCHEDULES, SGD
from tests.all_estimators import ESTIMATORS, NAMES, data

# Short fits stop at max_iter; that warning is noise here (pytest.warns still records it).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def snapshot(value):
    """A copy of an input (arrays, sparse matrices, lists), comparable with
    :func:`assert_unchanged`; object arrays keep the same objects."""
    return value.copy()


def assert_unchanged(before, after):
    if sp.issparse(before):
        assert (before != after).nnz == 0
    elif isinstance(before, np.ndarray) and before.dtype != object:
        assert_array_equal(before, after)
    elif isinstance(before, np.ndarray):
        assert before.shape == after.shape
        assert all(a is b or a == b for a, b in zip(before.ravel(), after.ravel(), strict=True))
    else:
        assert before == after


# --------------------------------------------------------------------------- bad inputs
def _with(array, index, value, dtype=None):
    out = np.array(array, dtype=dtype)
    out[index] = value
    return out


X0, Y0 = data()


class Row(NamedTuple):
    """One bad input: the call's arguments, the method, the error type and message, and
    whether only tabular estimators reject it."""

    args: tuple
    kwargs: dict
    method: str
    error: type[Exception]
    message: str
    tabular_only: bool = False


BAD_INPUTS = {
    "nan_in_X": Row((_with(X0, (3, 1), np.nan), Y0), {}, "fit", ValueError, "Input X contains NaN"),
    "inf_in_X": Row(
        (_with(X0, (0, 0), np.inf), Y0), {}, "fit", ValueError, "Input X contains infinity"
    ),
    "nan_in_y": Row(
        (X0, _with(Y0, 2, np.nan, dtype=float)), {}, "fit", ValueError, "Input y contains NaN"
    ),
    "empty_X": Row((X0[:0], Y0[:0]), {}, "fit", ValueError, r"0 sample\(s\)"),
    "one_sample": Row((X0[:1], Y0[:1]), {}, "fit", ValueError, "at least 2 classes"),
    "one_class": Row((X0, np.zeros_like(Y0)), {}, "fit", ValueError, "only one class"),
    "continuous_y": Row((X0, X0[:, 0]), {}, "fit", ValueError, "Unknown label type"),
    "y_wrong_length": Row(
        (X0, Y0[:-1]), {}, "fit", ValueError, "inconsistent numbers of samples: \\[20, 19\\]"
    ),
    "sparse_X": Row(
        (sp.csr_matrix(X0), Y0), {}, "fit", TypeError, "Sparse data was passed.*dense data"
    ),
    "complex_X": Row((X0 + 1j, Y0), {}, "fit", ValueError, "Complex data not supported"),
    "object_X": Row(
        (np.array([[object()] * 4] * 20, dtype=object), Y0),
        {},
        "fit",
        TypeError,
        "not 'object'",
    ),
    "3d_X": Row((X0[:, :, None], Y0), {}, "fit", ValueError, "Found array with dim 3", True),
    "negative_sample_weight": Row(
        (X0, Y0),
        {"sample_weight": _with(np.ones(20), 4, -1.0)},
        "fit",
        ValueError,
        "Negative values in data passed to `sample_weight`",
    ),
    "sample_weight_wrong_length": Row(
        (X0, Y0),
        {"sample_weight": np.ones(19)},
        "fit",
        ValueError,
        r"sample_weight.shape == \(19,\), expected \(20,\)",
    ),
    "all_zero_sample_weight": Row(
        (X0, Y0), {"sample_weight": np.zeros(20)}, "fit", ValueError, "at least one non-zero"
    ),
    "nan_sample_weight": Row(
        (X0, Y0),
        {"sample_weight": _with(np.ones(20), 0, np.nan)},
        "fit",
        ValueError,
        "sample_weight contains NaN",
    ),
    "partial_fit_without_classes": Row(
        (X0, Y0), {}, "partial_fit", ValueError, "classes must be passed on the first call"
    ),
    "partial_fit_label_outside_classes": Row(
        (X0, np.where(Y0 == 1, 7, 0)),
        {"classes": [0, 1]},
        "partial_fit",
        ValueError,
        r"not in classes_ \[0, 1\]: \[7\]",
    ),
}


@pytest.mark.parametrize("row", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_naming_the_problem(name, row):
    entry = ESTIMATORS[name]
    if row.tabular_only and not entry.tabular:
        pytest.skip("sequence estimators accept this input")
    before = [snapshot(a) for a in (*row.args, *row.kwargs.values())]
    est = entry.make()
    with pytest.raises(row.error, match=row.message):
        getattr(est, row.method)(*row.args, **row.kwargs)
    for old, new in zip(before, (*row.args, *row.kwargs.values()), strict=True):
        assert_unchanged(old, new)


BAD_PREDICT_INPUTS = {
    "wrong_n_features": (X0[:, :3], ValueError, "X has 3 features, but .* is expecting 4"),
    "nan": (_with(X0, (1, 1), np.nan), ValueError, "Input X contains NaN"),
    "inf": (_with(X0, (1, 1), -np.inf), ValueError, "Input X contains infinity"),
    "sparse": (sp.csr_matrix(X0), TypeError, "Sparse data was passed"),
    "3d": (X0[:, :, None], ValueError, "Found array with dim 3"),
}


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
@pytest.mark.parametrize(
    ("X", "error", "message"), BAD_PREDICT_INPUTS.values(), ids=BAD_PREDICT_INPUTS.keys()
)
@pytest.mark.parametrize("name", NAMES)
def test_bad_prediction_input_raises(name, X, error, message, method, fitted):
    est = fitted(name)
    if X.ndim == 3 and not ESTIMATORS[name].tabular:
        pytest.skip("sequence estimators accept 3D input")
    with pytest.raises(error, match=message):
        getattr(est, method)(X)


@pytest.fixture(scope="module")
def fitted():
    """Fitted estimator by name, fitted once per module on the default data."""
    cache: dict[str, object] = {}

    def get(name):
        if name not in cache:
            cache[name] = ESTIMATORS[name].make().fit(X0, Y0)
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_class_weight_naming_an_unknown_class_raises(name):
    # scikit-learn's compute_class_weight ignores keys of absent classes when every
    # present class has one; a typo in a class label must not go unnoticed.
    est = ESTIMATORS[name].make(class_weight={0: 1.0, 1: 2.0, 5: 3.0})
    with pytest.raises(ValueError, match=re.escape("not in the data: [5]; the classes are [0, 1]")):
        est.fit(X0, Y0)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_never_modified(name):
    X, y = data()
    X32 = np.asfortranarray(X.astype(np.float32))  # a layout and dtype kept as they are
    weight = np.linspace(0.5, 1.5, len(y))
    arrays = [X, y, X32, weight]
    before = [a.copy(order="K") for a in arrays]
    for optimizer in ("importance_weights", "adam", "lbfgs"):  # keyed, shuffled, full batch
        est = ESTIMATORS[name].make(optimizer=optimizer, class_weight={0: 2.0, 1: 1.0})
        est.fit(X, y, sample_weight=weight)
        est.fit(X32, y, sample_weight=weight)
        est.predict_proba(X32)
        est.partial_fit(X, y, sample_weight=weight)
        ESTIMATORS[name].make(optimizer=optimizer).partial_fit(X32, y, classes=np.array([0, 1]))
    for old, new in zip(before, arrays, strict=True):
        assert_array_equal(old, new)
        assert old.dtype == new.dtype and old.flags.f_contiguous == new.flags.f_contiguous


@pytest.mark.parametrize("name", NAMES)
def test_read_only_input_is_accepted_without_warnings(name):
    X, y = data()
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = ESTIMATORS[name].make(optimizer="lbfgs").fit(X, y)
        est.predict(X)


# --------------------------------------------------------------------------- parameters
BAD_PARAMETERS = [
    ("optimizer", "adamw2"),
    ("optimizer", 3),
    ("lr_schedule", "warmup"),
    ("lr_schedule", None),
    ("batch_size", 0),
    ("batch_size", 2.5),
    ("batch_size", "big"),
    ("max_iter", 0),
    ("max_iter", 2.5),
    ("tol", -1.0),
    ("tol", np.nan),
    ("tol", np.inf),
    ("n_iter_no_change", 0),
    ("early_stopping", "yes"),
    ("validation_fraction", 0.0),
    ("validation_fraction", 1.0),
    ("alpha", -1e-4),
    ("alpha", np.inf),
    ("class_weight", "auto"),
    ("class_weight", [1.0, 2.0]),
    ("update_clip", 0.0),
    ("update_clip", -1.0),
    ("clip_norm", 0.0),
    ("clip_norm", -1.0),
    ("device", "tpu"),
    ("device", 0),
    ("random_state", "seed"),
    ("verbose", -1),
    ("warm_start", "no"),
    ("loss", "log"),
    ("fit_intercept", "yes"),
    ("hidden_layer_sizes", 0),
    ("hidden_layer_sizes", (4, 0)),
    ("hidden_layer_sizes", (4, 2.5)),
    ("hidden_layer_sizes", "abc"),
    ("activation", "swish3"),
    ("maxout_pieces", 1),
    ("maxout_pieces", 2.5),
    ("init", "xavier"),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("batch_norm", "yes"),
    ("hidden_size", 0),
    ("num_layers", 0),
    ("bidirectional", "yes"),
    ("window", 0),
]


def _bad_parameter_cases():
    for name in NAMES:
        params = ESTIMATORS[name].make().get_params()
        for param, value in BAD_PARAMETERS:
            if param in params:
                yield pytest.param(name, param, value, id=f"{name}-{param}={value!r}")


@pytest.mark.parametrize(("name", "param", "value"), list(_bad_parameter_cases()))
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_out_of_range_parameter_raises_invalid_parameter_error(name, param, value, method):
    est = ESTIMATORS[name].make(**{param: value})
    message = f"The '{param}' parameter of {type(est).__name__} must be .* Got {value!r} instead."
    with pytest.raises(InvalidParameterError, match=re.escape(message).replace(r"\.\*", ".*")):
        # partial_fit validates the parameters before asking for classes.
        getattr(est, method)(X0, Y0)
    assert not hasattr(est, "net_")


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_has_a_constraint(name):
    est = ESTIMATORS[name].make()
    assert set(est._parameter_constraints) == set(est.get_params(deep=False))


@pytest.mark.parametrize(
    ("param", "registry"), [("optimizer", OPTIMIZERS), ("lr_schedule", SCHEDULES)]
)
@pytest.mark.parametrize("name", NAMES)
def test_unknown_name_lists_the_valid_names(name, param, registry):
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter") as info:
        ESTIMATORS[name].make(**{param: "no_such_rule"}).fit(X0, Y0)
    for valid in registry:
        assert repr(valid) in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_spec_hyperparameter_out_of_range_raises(name):
    with pytest.raises(ValueError, match="The 'lr' parameter of SGD must be a float in the range"):
        ESTIMATORS[name].make(optimizer=SGD(lr=-1.0)).fit(X0, Y0)


@pytest.mark.parametrize("name", NAMES)
def test_cuda_without_cuda_raises(name, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        ESTIMATORS[name].make(device="cuda").fit(X0, Y0)


# --------------------------------------------------------------------------- persistence
def _round_trips(est, tmp_path):
    yield pickle.loads(pickle.dumps(est))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    yield joblib.load(path)


def _assert_same_predictions(a, b, X):
    assert_array_equal(a.predict(X), b.predict(X))
    assert_array_equal(a.decision_function(X), b.decision_function(X))
    if hasattr(a, "predict_proba"):
        assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", NAMES)
def test_pickle_and_joblib_round_trips_predict_identically(name, optimizer, tmp_path):
    X, y = data()
    est = ESTIMATORS[name].make(optimizer=optimizer, max_iter=2).fit(X, y)
    for loaded in _round_trips(est, tmp_path):
        _assert_same_predictions(est, loaded, X)
    # The loaded model also trains on exactly as the original does.
    loaded.partial_fit(X, y)
    est.partial_fit(X, y)
    _assert_same_predictions(est, loaded, X)


@pytest.mark.parametrize("name", NAMES)
def test_unpickled_model_continues_training_like_the_original(name):
    X, y = data(40)
    params = dict(optimizer="adam", lr_schedule="cosine", warm_start=True, max_iter=3)
    est = ESTIMATORS[name].make(**params).fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    # One pickle for the net's tensors: the scheduler still drives the net's optimizer.
    scheduler = dict(loaded.net_.callbacks_)["lr_schedule"].lr_scheduler_
    assert scheduler.optimizer is loaded.net_.optimizer_
    est.fit(X, y)
    loaded.fit(X, y)
    _assert_same_predictions(est, loaded, X)
    assert loaded.loss_curve_ == est.loss_curve_


@contextlib.contextmanager
def storages_tagged_cuda():
    """Pickle tensors as a CUDA machine does: torch records each storage's device with
    ``location_tag`` and restores it there on load (without a ``map_location``, a CPU-only
    machine then refuses: "Attempting to deserialize object on a CUDA device")."""
    original = torch.serialization.location_tag

    def cuda_tag(storage):
        tag = original(storage)
        return "cuda:0" if tag == "cpu" else tag

    torch.serialization.location_tag = cuda_tag
    try:
        yield
    finally:
        torch.serialization.location_tag = original


def test_cuda_tagged_tensors_do_not_load_on_this_machine_without_map_location(monkeypatch):
    # The simulation below is faithful: a plain tensor pickled this way fails to load.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with storages_tagged_cuda():
        blob = pickle.dumps(torch.zeros(3))
    with pytest.raises(RuntimeError, match="on a CUDA device"):
        pickle.loads(blob)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("optimizer", ["importance_weights", "adam"])
@pytest.mark.parametrize("name", NAMES)
def test_model_fitted_on_cuda_predicts_on_a_cpu_only_machine(
    name, optimizer, early_stopping, monkeypatch
):
    X, y = data(40)
    est = (
        ESTIMATORS[name]
        .make(optimizer=optimizer, lr_schedule="cosine", early_stopping=early_stopping)
        .fit(X, y)
    )
    est.net_.device = "cuda"  # as after a fit with device='auto' on a GPU machine
    with storages_tagged_cuda():
        blob = io.BytesIO()
        joblib.dump(est, blob)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    blob.seek(0)
    with pytest.warns(UserWarning) as record:  # skorch says where the tensors went
        loaded = joblib.load(blob)
    messages = " ".join(str(w.message) for w in record)
    assert 'no CUDA devices are available. Loading on device "cpu"' in messages
    assert str(loaded.net_.device) == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.net_.module_.parameters())
    _assert_same_predictions(est, loaded, X)
    loaded.partial_fit(X, y)  # and trains on, on the CPU
    assert loaded.n_iter_ == est.n_iter_ + 1


# --------------------------------------------------------------------------- determinism
def _fit_result(est, X, y):
    est.fit(X, y)
    return [p.detach().clone() for p in est.net_.module_.parameters()], est.predict_proba(X)


DETERMINISM_OPTIMIZERS = ["importance_weights", "adam", "sgd"]


@pytest.mark.parametrize("optimizer", DETERMINISM_OPTIMIZERS)
@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_gives_identical_results(name, optimizer):
    X, y = data(60)
    params = dict(optimizer=optimizer, batch_size=16)
    if name == "mlp":
        params["dropout"] = 0.2
    runs = [
        _fit_result(ESTIMATORS[name].make(random_state=seed, **params), X, y)
        for seed in (7, 7, np.random.RandomState(7), np.random.RandomState(7))
    ]
    for weights, proba in runs[1:]:
        for a, b in zip(runs[0][0], weights, strict=True):
            assert torch.equal(a, b)
        assert_array_equal(runs[0][1], proba)


@pytest.mark.parametrize("optimizer", DETERMINISM_OPTIMIZERS)
@pytest.mark.parametrize("name", NAMES)
def test_different_seeds_give_different_results(name, optimizer):
    X, y = data(60)
    params = dict(optimizer=optimizer, batch_size=16)
    first, second = (
        _fit_result(ESTIMATORS[name].make(random_state=seed, **params), X, y)[1] for seed in (1, 2)
    )
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_fit_leaves_the_global_random_states_alone(name):
    X, y = data()
    # The legacy global generator: the one random_state=None draws from.
    numpy_state = np.random.get_state()  # noqa: NPY002
    torch_state = torch.get_rng_state()
    ESTIMATORS[name].make(optimizer="adam").fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(a, b) for a, b in zip(after, numpy_state, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_concurrent_predictions_match_sequential_ones(name):
    X, y = data(200)
    est = ESTIMATORS[name].make().fit(X, y)
    rng = np.random.RandomState(1)
    chunks = [rng.randn(2000, 4) for _ in range(8)]
    methods = ["predict", "predict_proba", "decision_function"]
    expected = [getattr(est, m)(c) for c in chunks for m in methods]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(getattr(est, m), c) for c in chunks for m in methods]
        results = [f.result() for f in futures]
    for a, b in zip(expected, results, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_concurrent_fits_match_sequential_ones(name):
    # Fits in threads of one process (joblib's threading backend, dask workers) must not
    # share a random stream: initialisation, batch order and dropout are per fit.
    X, y = data(60)
    params = dict(batch_size=16, max_iter=3)
    if name != "logistic":
        params["dropout"] = 0.2
    jobs = [(seed, opt) for seed in (0, 1, 2) for opt in ("sgd", "importance_weights")]

    def run(job):
        seed, optimizer = job
        model = ESTIMATORS[name].make(random_state=seed, optimizer=optimizer, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(X, y).predict_proba(X)

    expected = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, jobs * 2))
    for a, b in zip(expected * 2, results, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("name", "key"),
    [(name, key) for name in sorted(OPTIMIZERS) for key in OPTIMIZERS[name]._parameter_constraints],
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -1])
def test_optimizer_hyperparameters_out_of_range_are_refused(name, key, value):
    spec = OPTIMIZERS[name]().set_params(**{key: value})
    constraints = [make_constraint(c) for c in spec._parameter_constraints[key]]
    if value == -1 and any(c.is_satisfied_by(-1) for c in constraints):
        pytest.skip(f"{key} = -1 is valid")
    X, y = data()
    with pytest.raises(InvalidParameterError, match=f"{key!r} parameter of {type(spec).__name__}"):
        IWLogisticRegression(optimizer=spec, max_iter=1).fit(X, y)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_sample_weights(name):
    # Found by the fuzz test: weights of 1e-228 underflowed in float32 (the loss became
    # NaN) and alpha / sum(w) overflowed it. Training weights now have mean 1 whatever the
    # scale; an L2 coefficient beyond the dtype is refused.
    X = np.array([[0.0], [1.0], [0.0], [1.0]])
    y = np.array([0, 1, 0, 1])
    tiny = np.full(4, 1.2e-228)
    make = ESTIMATORS[name].make
    with pytest.raises(ValueError, match=r"alpha / sum\(sample_weight\) = .* overflows"):
        make(optimizer="adam", max_iter=2).fit(X.astype(np.float32), y, sample_weight=tiny)
    for optimizer in ("adam", "importance_weights"):
        reference = make(optimizer=optimizer, max_iter=3, alpha=0.0).fit(X, y)
        for dtype in (np.float32, np.float64):
            est = make(optimizer=optimizer, max_iter=3, alpha=0.0)
            est.fit(X.astype(dtype), y, sample_weight=tiny)
            assert np.all(np.isfinite(est.loss_curve_))
            if optimizer == "adam":  # the weighted mean loss ignores a common scale
                np.testing.assert_allclose(est.loss_curve_, reference.loss_curve_, rtol=1e-5)
    # float64 represents the coefficient: the penalty dominates but the fit runs; integer
    # X trains in float64 too.
    make(optimizer="adam", max_iter=2).fit(X, y, sample_weight=tiny)
    make(optimizer="adam", max_iter=2).fit(X.astype(np.int64), y, sample_weight=tiny)
