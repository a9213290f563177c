"""Per-sample Gram matrix: hook fast path versus torch.func oracle versus a plain loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sklearn_iw import IWMLPClassifier
from sklearn_iw.optim.iw._gram import _materialise_is_cheaper, _trainable_linears
from sklearn_iw.solvers import GramRows, per_sample_gram, per_sample_gram_functional

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
RTOL = 1e-10
N_CLASSES = 3
N_FEATURES = 5
BATCH = 7


def cross_entropy(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output, y, reduction="none")


def binary_logistic(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(output.squeeze(-1), y, reduction="none")


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Max-abs error relative to the largest entry of the expected matrix."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    scale = expected.abs().max().clamp_min(torch.finfo(expected.dtype).tiny)
    err = ((actual - expected).abs().max() / scale).item()
    assert err <= RTOL, err


def trainable(module: nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


def jacobian_from_losses(losses: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """Per-sample gradients, one ``autograd.grad`` of ``E_i`` per sample (the definition)."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        flat = [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
        rows.append(torch.cat(flat))
    return torch.stack(rows)


def loop_gram(module: nn.Module, loss_fn, X, y) -> torch.Tensor:
    inputs = (X,) if isinstance(X, torch.Tensor) else tuple(X)
    jac = jacobian_from_losses(loss_fn(module(*inputs), y), trainable(module))
    return jac @ jac.T


def make_data(device: str, n_out: int = N_CLASSES, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(BATCH, N_FEATURES, generator=gen, dtype=torch.float64)
    if n_out == 1:
        y = torch.randint(0, 2, (BATCH,), generator=gen).to(torch.float64)
    else:
        y = torch.randint(0, n_out, (BATCH,), generator=gen)
    return X.to(device), y.to(device)


def mlp(depth: int, activation: type[nn.Module], bias: bool, n_out: int = N_CLASSES) -> nn.Module:
    widths = [N_FEATURES] + [4 + k for k in range(depth)]
    layers: list[nn.Module] = []
    for n_in, n_hidden in zip(widths[:-1], widths[1:], strict=False):
        layers += [nn.Linear(n_in, n_hidden, bias=bias), activation()]
    layers.append(nn.Linear(widths[-1], n_out, bias=bias))
    return nn.Sequential(*layers)


def check_fast_path(module: nn.Module, loss_fn, X, y) -> torch.Tensor:
    """Assert the fast path applies and matches the oracle, whole and as rows on demand;
    return G."""
    assert _trainable_linears(module) is not None
    gram, losses = per_sample_gram(module, loss_fn, X, y)
    assert losses.shape == (y.shape[0],) and losses.requires_grad
    oracle = per_sample_gram_functional(module, loss_fn, X, y)
    assert_close(gram, oracle)
    rows, losses = per_sample_gram(module, loss_fn, X, y, lazy=True)
    check_rows(rows, oracle)
    check_weighted_gradients(rows, losses, module)
    return gram


def check_weighted_gradients(rows: GramRows, losses: torch.Tensor, module: nn.Module) -> None:
    """``sum_i alpha_i g_i`` from the factors equals autograd's weighted backward pass,
    with exactly zero gradients left out: for weights all positive, and for weights mostly
    zero (the products then take the rows of the positive ones only)."""
    params = trainable(module)
    alpha = torch.rand(losses.shape[0], dtype=losses.dtype, device=losses.device)
    sparse = torch.where(torch.arange(len(alpha), device=alpha.device) % 3 == 1, alpha, 0.0)
    for weights in (alpha, sparse):
        weighted = rows.weighted_gradients(weights)
        assert weighted is not None
        expected = torch.autograd.grad(
            (weights * losses).sum(), params, allow_unused=True, retain_graph=True
        )
        for param, grad in zip(params, expected, strict=True):
            if param in weighted:
                assert weighted[param].shape == param.shape
                assert_close(weighted[param], grad)
            else:
                assert grad is None or not grad.any()


def check_rows(rows: GramRows, expected: torch.Tensor) -> None:
    """Rows on demand: the diagonal, row subsets in any order (twice: computed, then
    cached), then the whole matrix, against the expected matrix."""
    assert isinstance(rows, GramRows)
    assert rows.shape == expected.shape and rows.ndim == 2
    assert (rows.dtype, rows.device) == (expected.dtype, expected.device)
    assert_close(rows.diagonal(), expected.diagonal())
    n = expected.shape[0]
    for index in ([n - 1, 0], [1, n - 1, 2], list(range(n))[::-1]):
        index = torch.tensor(index, device=expected.device)
        for _ in range(2):
            assert_close(rows.index_select(0, index), expected.index_select(0, index))
    assert_close(rows.full(), expected)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_out", [1, N_CLASSES])
def test_logistic_regression(device: str, bias: bool, n_out: int) -> None:
    module = nn.Linear(N_FEATURES, n_out, bias=bias).double().to(device)
    loss_fn = binary_logistic if n_out == 1 else cross_entropy
    check_fast_path(module, loss_fn, *make_data(device, n_out))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU, nn.ELU])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_mlp_matches_oracle(device: str, depth: int, activation, bias: bool) -> None:
    module = mlp(depth, activation, bias).double().to(device)
    check_fast_path(module, cross_entropy, *make_data(device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("activation", "pieces"), [("maxout", 2), ("maxout", 3), ("soboleva_tanh", 2)]
)
def test_estimator_mlp_with_new_activations_matches_oracle(
    device: str, activation: str, pieces: int
) -> None:
    """The estimator's own network: maxout keeps every parameter in an nn.Linear (its
    pieces are the Linear's outputs), so the fast path applies and is exact."""
    est = IWMLPClassifier((4, 5), activation=activation, maxout_pieces=pieces)
    module = est._build_module(N_FEATURES, N_CLASSES).double().to(device)
    widths = [m.out_features for m in module if isinstance(m, nn.Linear)]
    assert widths == ([4 * pieces, 5 * pieces, N_CLASSES] if activation == "maxout" else [4, 5, 3])
    gram = check_fast_path(module, cross_entropy, *make_data(device))
    assert gram.diagonal().min() > 0  # every sample has a gradient: the test is not vacuous


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_binary_output(device: str) -> None:
    module = mlp(2, nn.Tanh, True, n_out=1).double().to(device)
    check_fast_path(module, binary_logistic, *make_data(device, n_out=1))


@pytest.mark.parametrize("device", DEVICES)
def test_inplace_activation_after_linear(device: str) -> None:
    # ReLU(inplace=True) overwrites the layer output; the gradient must still be taken
    # with respect to the pre-activation.
    module = nn.Sequential(nn.Linear(N_FEATURES, 6), nn.ReLU(inplace=True), nn.Linear(6, N_CLASSES))
    check_fast_path(module.double().to(device), cross_entropy, *make_data(device))


class OverTime(nn.Module):
    """A linear layer applied at every step of ``(B, *steps, in)``, mean-pooled, then a head."""

    def __init__(self, n_in: int, n_hidden: int) -> None:
        super().__init__()
        self.step = nn.Linear(n_in, n_hidden)
        self.head = nn.Linear(n_hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.step(x))
        return self.head(hidden.flatten(1, -2).mean(dim=1))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("steps", "n_in", "n_hidden", "materialise"),
    [((1,), 8, 8, False), ((2,), 8, 8, False), ((6,), 3, 2, True), ((2, 3), 3, 2, True)],
)
def test_linear_over_time(device: str, steps, n_in: int, n_hidden: int, materialise: bool) -> None:
    n_steps = int(torch.tensor(steps).prod())
    assert _materialise_is_cheaper(BATCH, n_steps, n_in, n_hidden) is materialise
    module = OverTime(n_in, n_hidden).double().to(device)
    X = torch.randn(BATCH, *steps, n_in, dtype=torch.float64, device=device)
    y = torch.randint(0, N_CLASSES, (BATCH,), device=device)
    check_fast_path(module, cross_entropy, X, y)


def test_cost_rule() -> None:
    assert not _materialise_is_cheaper(500, 1, 64, 100)
    assert _materialise_is_cheaper(500, 50, 16, 16)
    assert not _materialise_is_cheaper(500, 5, 256, 256)


@pytest.mark.parametrize("device", DEVICES)
def test_frozen_layers(device: str) -> None:
    module = mlp(2, nn.Tanh, True).double().to(device)
    module[0].requires_grad_(False)  # frozen layer: skipped
    module[2].weight.requires_grad_(False)  # only the bias of this layer trains
    gram = check_fast_path(module, cross_entropy, *make_data(device))
    assert_close(gram, loop_gram(module, cross_entropy, *make_data(device)))


@pytest.mark.parametrize("device", DEVICES)
def test_nothing_trainable(device: str) -> None:
    module = mlp(1, nn.Tanh, True).double().to(device).requires_grad_(False)
    gram, losses = per_sample_gram(module, cross_entropy, *make_data(device))
    assert gram.shape == (BATCH, BATCH) and not gram.any()
    assert losses.shape == (BATCH,)
    check_rows(per_sample_gram(module, cross_entropy, *make_data(device), lazy=True)[0], gram)


def test_rows_only_along_dim_0() -> None:
    rows, _ = per_sample_gram(
        mlp(1, nn.Tanh, True).double(), cross_entropy, *make_data("cpu"), lazy=True
    )
    with pytest.raises(ValueError, match="dim must be 0"):
        rows.index_select(1, torch.tensor([0]))


class SharedTwice(nn.Module):
    """One hidden layer called twice per forward (weight sharing across depth)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(N_FEATURES, 4)
        self.shared = nn.Linear(4, 4)
        self.head = nn.Linear(4, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.embed(x))
        h = torch.tanh(self.shared(h))
        return self.head(torch.tanh(self.shared(h)) + h)


@pytest.mark.parametrize("device", DEVICES)
def test_module_called_twice(device: str) -> None:
    module = SharedTwice().double().to(device)
    gram = check_fast_path(module, cross_entropy, *make_data(device))
    assert_close(gram, loop_gram(module, cross_entropy, *make_data(device)))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Linear(N_FEATURES, 4)
        self.right = nn.Linear(2, 4)
        self.head = nn.Linear(4, N_CLASSES)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.left(x) * self.right(z)))


@pytest.mark.parametrize("device", DEVICES)
def test_tuple_inputs(device: str) -> None:
    X, y = make_data(device)
    z = torch.randn(BATCH, 2, dtype=torch.float64, device=device)
    check_fast_path(TwoInputs().double().to(device), cross_entropy, (X, z), y)


class TiedWeights(nn.Module):
    """Two layers sharing one weight: cross-layer terms force the generic path."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.second = nn.Linear(4, 4)
        self.second.weight = self.first.weight
        self.head = nn.Linear(4, N_CLASSES)
        self.embed = nn.Linear(N_FEATURES, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.second(torch.tanh(self.first(self.embed(x))))))


class FlatSteps(nn.Module):
    """Folds the steps into the batch before the layer: its rows are no longer samples."""

    def __init__(self) -> None:
        super().__init__()
        self.step = nn.Linear(N_FEATURES, 4)
        self.head = nn.Linear(4, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, n_in = x.shape
        hidden = torch.tanh(self.step(x.reshape(batch * steps, n_in)))
        return self.head(hidden.reshape(batch, steps, -1).mean(dim=1))


def prelu_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(N_FEATURES, 6), nn.PReLU(), nn.Linear(6, N_CLASSES))


def layernorm_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(N_FEATURES, 6), nn.LayerNorm(6), nn.Tanh(), nn.Linear(6, N_CLASSES)
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("factory", [prelu_mlp, layernorm_mlp, TiedWeights])
def test_generic_fallback(device: str, factory) -> None:
    module = factory().double().to(device)
    assert _trainable_linears(module) is None
    X, y = make_data(device)
    gram, losses = per_sample_gram(module, cross_entropy, X, y)
    assert losses.requires_grad
    expected = loop_gram(module, cross_entropy, X, y)
    assert_close(gram, expected)
    assert_close(per_sample_gram_functional(module, cross_entropy, X, y), expected)
    rows, _ = per_sample_gram(module, cross_entropy, X, y, lazy=True)
    check_rows(rows, expected)
    assert rows.weighted_gradients(torch.ones(BATCH, dtype=torch.float64)) is None


@pytest.mark.parametrize("device", DEVICES)
def test_fallback_when_rows_are_not_samples(device: str) -> None:
    module = FlatSteps().double().to(device)
    assert _trainable_linears(module) is not None
    X = torch.randn(BATCH, 3, N_FEATURES, dtype=torch.float64, device=device)
    y = torch.randint(0, N_CLASSES, (BATCH,), device=device)
    gram, _ = per_sample_gram(module, cross_entropy, X, y)
    assert_close(gram, loop_gram(module, cross_entropy, X, y))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("factory", [lambda: mlp(2, nn.ReLU, True), prelu_mlp])
def test_oracle_matches_loop(device: str, factory) -> None:
    module = factory().double().to(device)
    X, y = make_data(device)
    assert_close(
        per_sample_gram_functional(module, cross_entropy, X, y),
        loop_gram(module, cross_entropy, X, y),
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("factory", [lambda: mlp(2, nn.GELU, True), prelu_mlp, SharedTwice])
def test_losses_keep_graph_for_weighted_step(device: str, factory) -> None:
    module = factory().double().to(device)
    X, y = make_data(device)
    params = trainable(module)
    _, losses = per_sample_gram(module, cross_entropy, X, y)
    assert all(p.grad is None for p in params)
    alpha = torch.rand(BATCH, dtype=torch.float64, device=device)
    (alpha * losses).sum().backward()
    weighted = alpha @ jacobian_from_losses(cross_entropy(module(X), y), params)
    assert_close(torch.cat([p.grad.reshape(-1) for p in params]), weighted)


@pytest.mark.parametrize("device", DEVICES)
def test_train_mode_dropout_uses_the_drawn_mask(device: str) -> None:
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, N_CLASSES)
    )
    module = module.double().to(device).train()
    gram, losses = per_sample_gram(module, cross_entropy, *make_data(device))
    # The returned losses carry the very forward (and mask) behind G.
    jac = jacobian_from_losses(losses, trainable(module))
    assert_close(gram, jac @ jac.T)


@pytest.mark.parametrize("device", DEVICES)
def test_train_mode_dropout_without_fast_path_raises(device: str) -> None:
    module = nn.Sequential(prelu_mlp(), nn.Dropout(0.2)).double().to(device)
    with pytest.raises(ValueError, match="Dropout is in training mode"):
        per_sample_gram(module, cross_entropy, *make_data(device))
    module.eval()
    X, y = make_data(device)
    gram, _ = per_sample_gram(module, cross_entropy, X, y)
    assert_close(gram, loop_gram(module, cross_entropy, X, y))


def bn_mlp(affine: bool = True) -> nn.Module:
    return nn.Sequential(
        nn.Linear(N_FEATURES, 6), nn.BatchNorm1d(6, affine=affine), nn.ReLU(), nn.Linear(6, 3)
    )


@pytest.mark.parametrize("device", DEVICES)
def test_train_mode_batchnorm_raises(device: str) -> None:
    module = bn_mlp().double().to(device).train()
    for fn in (per_sample_gram, per_sample_gram_functional):
        with pytest.raises(ValueError, match="BatchNorm in training mode couples the samples"):
            fn(module, cross_entropy, *make_data(device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("affine", [True, False])
def test_eval_mode_batchnorm(device: str, affine: bool) -> None:
    module = bn_mlp(affine).double().to(device)
    X, y = make_data(device)
    with torch.no_grad():  # non-trivial running statistics
        module.train()(X * 3 + 1)
    module.eval()
    # Affine BN has its own parameters (generic path); without them the fast path applies.
    assert (_trainable_linears(module) is None) is affine
    gram, _ = per_sample_gram(module, cross_entropy, X, y)
    assert_close(gram, per_sample_gram_functional(module, cross_entropy, X, y))
    assert_close(gram, loop_gram(module, cross_entropy, X, y))


@pytest.mark.parametrize("device", DEVICES)
def test_float32_dtype_and_no_grad_context(device: str) -> None:
    module = mlp(2, nn.ReLU, True).to(device)
    X, y = make_data(device)
    X = X.float()
    with torch.no_grad():
        gram, losses = per_sample_gram(module, cross_entropy, X, y)
    assert gram.dtype == torch.float32 and gram.device == X.device
    assert losses.requires_grad
    expected = per_sample_gram_functional(module, cross_entropy, X, y)
    torch.testing.assert_close(gram, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


class OverwritesInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(N_FEATURES, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = x * 1.0
        out = self.layer(hidden)
        hidden.mul_(2.0)
        return out + hidden.sum(dim=1, keepdim=True)


def test_linear_input_modified_in_place_raises() -> None:
    with pytest.raises(RuntimeError, match="modified in place"):
        per_sample_gram(OverwritesInput().double(), cross_entropy, *make_data("cpu"))


def test_reduced_loss_is_rejected() -> None:
    module = mlp(1, nn.Tanh, True).double()
    with pytest.raises(ValueError, match="unreduced losses"):
        per_sample_gram(module, lambda out, y: F.cross_entropy(out, y), *make_data("cpu"))


class DeadBranch(nn.Module):
    """A trained layer whose output never reaches the loss: zero gradient, zero Gram."""

    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(N_FEATURES, N_CLASSES)
        self.unused = nn.Linear(N_FEATURES, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.unused(x)
        return self.used(x)


@pytest.mark.parametrize("device", DEVICES)
def test_layer_that_does_not_reach_the_loss(device: str) -> None:
    module = DeadBranch().double().to(device)
    check_fast_path(module, cross_entropy, *make_data(device))
    rows, _ = per_sample_gram(module, cross_entropy, *make_data(device), lazy=True)
    weighted = rows.weighted_gradients(torch.ones(BATCH, dtype=torch.float64, device=device))
    assert set(weighted) == {module.used.weight, module.used.bias}


@pytest.mark.parametrize("steps", [None, 5])
def test_gram_rows_jacobian_factors_the_gram_matrix(steps):
    """``GramRows.jacobian()`` is the per-sample gradient matrix: ``J J^T`` equals the Gram
    matrix, with as many columns as trainable entries (``rank_bound``), for layers applied
    to single inputs and to every step of a sequence."""
    torch.manual_seed(0)
    shape = (12, 3) if steps is None else (12, steps, 3)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * (steps or 1), 2),
    ).double()
    X, y = torch.randn(*shape, dtype=torch.float64), torch.randint(0, 2, (12,))

    def loss(output, target):
        return torch.nn.functional.cross_entropy(output, target, reduction="none")

    rows, _ = per_sample_gram(model, loss, X, y, lazy=True)
    J = rows.jacobian()
    assert J.shape == (12, rows.rank_bound) == (12, sum(p.numel() for p in model.parameters()))
    torch.testing.assert_close(J @ J.T, per_sample_gram_functional(model, loss, X, y))
