"""Gram matrix of per-sample gradients, the quadratic form of the importance-weights step.

For a minibatch with per-sample losses ``E_i`` and gradients ``g_i = dE_i/dw`` over all
trainable parameters ``w``, the importance-weights QP needs ``G_ij = <g_i, g_j>``.

Two ways to get it are provided:

* :func:`per_sample_gram` -- the fast path for networks whose trainable parameters all
  belong to ``nn.Linear`` layers. One forward with hooks records each layer's input ``A``
  and one ``autograd.grad`` of the summed loss gives the output gradients ``D``. Because
  samples do not interact, row ``i`` of ``D`` only depends on sample ``i`` and the
  per-sample weight gradient is ``outer(D_i, A_i)``, so ``G = (D D^T) * (A A^T + 1)``
  (the ``+ 1`` is the bias) without ever forming a per-sample gradient. Other networks
  fall back automatically to the generic path.
* :func:`per_sample_gram_functional` -- the generic path and test oracle: ``torch.func``
  vmaps ``grad`` over the samples, materialising the ``B x n_params`` Jacobian ``J``,
  and returns ``J J^T``.

With ``lazy=True`` either path returns a :class:`GramRows`: the factors (or ``J``) are kept
and a row of ``G`` is computed the first time it is read. The box-QP solver reads only
the rows of its working sets and supports, a quarter to a half of them on full batches, so
large batches skip most of the ``B^2 (in + out)`` work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

__all__ = [
    "GramRows",
    "linear_call_recorder",
    "per_sample_gram",
    "per_sample_gram_functional",
    "per_sample_jacobian",
]

PerSampleLoss = Callable[..., torch.Tensor]
Inputs = torch.Tensor | Sequence[torch.Tensor]
LinearCallRecorder = Callable[[nn.Linear, torch.Tensor, torch.Tensor], bool]

# Set while per_sample_gram runs a module's forward (a ContextVar: each thread its own).
_RECORDER: ContextVar[LinearCallRecorder | None] = ContextVar("linear_call_recorder", default=None)


def linear_call_recorder() -> LinearCallRecorder | None:
    """While :func:`per_sample_gram` runs a forward: a function declaring a linear call.

    A module that applies an ``nn.Linear``'s weight outside the layer's own forward (for
    example inside a fused kernel such as ``torch.lstm``) calls
    ``record(layer, inputs, output)`` to declare that ``output`` stands for
    ``layer(inputs)``: ``output`` is a tensor of the forward graph whose gradient equals
    the gradient of the loss with respect to that call's output. The fast path then counts
    the call as if the layer had been called, so its Gram rows and weighted gradient are
    exact. Outside :func:`per_sample_gram` this returns ``None`` and the module can take
    its fastest path.

    Returns
    -------
    callable or None
        ``record(layer, inputs, output)`` with ``inputs`` ``(B, ..., in)`` and ``output``
        ``(B, ..., out)``, which returns whether the call was counted (not when ``output``
        carries no gradient); ``None`` when no Gram is being recorded.

    Examples
    --------
    A layer whose weight is used by ``torch.nn.functional.linear`` directly is invisible
    to the hooks unless it declares the call:

    >>> import torch
    >>> from torch import nn
    >>> from sklearn_iw.solvers import linear_call_recorder, per_sample_gram
    >>> from sklearn_iw.solvers import per_sample_gram_functional
    >>> class Functional(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.linear = nn.Linear(3, 1)
    ...     def forward(self, x):
    ...         out = nn.functional.linear(x, self.linear.weight, self.linear.bias)
    ...         record = linear_call_recorder()
    ...         if record is not None:
    ...             _ = record(self.linear, x, out)
    ...         return out
    >>> _ = torch.manual_seed(0)
    >>> model, X, y = Functional(), torch.randn(5, 3), torch.randn(5)
    >>> def loss(output, target):
    ...     return (output[:, 0] - target) ** 2
    >>> G, _ = per_sample_gram(model, loss, X, y)
    >>> torch.allclose(G, per_sample_gram_functional(model, loss, X, y), atol=1e-5)
    True
    """
    return _RECORDER.get()


_COUPLED_MESSAGE = (
    "importance weights need per-sample gradients; BatchNorm in training mode couples the "
    "samples of a batch; use batch_norm=False or another optimizer"
)


@torch.enable_grad()  # the caller may sit in no_grad (e.g. a skorch callback)
def per_sample_gram(
    module: nn.Module,
    per_sample_loss: PerSampleLoss,
    X: Inputs,
    y: torch.Tensor,
    *,
    lazy: bool = False,
) -> tuple[torch.Tensor | GramRows, torch.Tensor]:
    """Gram matrix of the per-sample gradients, and the per-sample losses with their graph.

    Uses the hook-based fast path when every trainable parameter is the ``weight`` or
    ``bias`` of an ``nn.Linear`` (activations, pooling, reshapes and frozen layers of any
    kind may sit in between); otherwise falls back to :func:`per_sample_gram_functional`.

    Parameters
    ----------
    module : torch.nn.Module
        The network, called as ``module(*X)``. Samples must not interact in its forward:
        the fast path assumes that dimension 0 of every ``nn.Linear`` input indexes the
        samples of the batch.
    per_sample_loss : callable
        ``per_sample_loss(output, y)`` returns the unreduced losses, shape ``(B,)``.
    X : torch.Tensor or sequence of torch.Tensor
        The minibatch, ``(B, ...)``, or a tuple of such tensors passed as ``module(*X)``.
    y : torch.Tensor
        The targets, ``(B, ...)``.
    lazy : bool, default=False
        Return a :class:`GramRows` that computes each row of ``G`` when it is first read
        instead of the whole matrix; :func:`solve_box_qp` accepts either.

    Returns
    -------
    G : torch.Tensor or GramRows
        ``(B, B)`` Gram matrix ``G_ij = <g_i, g_j>`` over the trainable parameters, in the
        dtype and on the device of the module's parameters (rows on demand if ``lazy``).
    losses : torch.Tensor
        ``(B,)`` per-sample losses of a forward with the current module state. They still
        hold their graph, so ``(alpha.detach() * losses).sum().backward()`` applies the
        weighted gradient ``sum_i alpha_i g_i`` afterwards. Parameter ``.grad`` is never
        touched here.

    Raises
    ------
    ValueError
        If a BatchNorm layer uses batch statistics (training mode, or no running stats),
        which couples the samples; if the losses are not of shape ``(B,)``; or if the
        generic path is needed while a dropout layer is in training mode.
    RuntimeError
        If the input of an ``nn.Linear`` is modified in place later in the forward (the
        recorded activations would be stale).

    Notes
    -----
    With dropout in training mode the fast path is exact for the mask drawn in its single
    forward, which is also the forward behind ``losses``. The functional path would draw
    fresh masks, so it is only used for deterministic modules (eval mode).

    A layer called several times in one forward is handled exactly: each call's rows are
    appended to the layer's time axis, which yields the cross terms between calls. Inputs
    of shape ``(B, T1, ..., in)`` are treated as ``B`` samples of ``T1 * ...`` steps; see
    :func:`_linear_gram` for how the per-layer cost branch is chosen. A layer whose input
    does not lead with the batch dimension sends the whole computation to the generic path.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_iw.solvers import per_sample_gram
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    >>> X, y = torch.randn(4, 3), torch.tensor([0.0, 1.0, 1.0, 0.0])
    >>> def per_sample_loss(output, target):
    ...     return nn.functional.binary_cross_entropy_with_logits(
    ...         output.squeeze(1), target, reduction="none"
    ...     )
    >>> G, losses = per_sample_gram(model, per_sample_loss, X, y)
    >>> G.shape, losses.shape
    (torch.Size([4, 4]), torch.Size([4]))

    ``G`` is the Gram matrix of the per-sample gradients, computed without them:

    >>> def gradient(loss):
    ...     grads = torch.autograd.grad(loss, model.parameters(), retain_graph=True)
    ...     return torch.cat([g.flatten() for g in grads])
    >>> J = torch.stack([gradient(loss) for loss in losses])
    >>> torch.allclose(G, J @ J.T, atol=1e-6)
    True

    Rows on demand, as the QP solver reads them:

    >>> rows, _ = per_sample_gram(model, per_sample_loss, X, y, lazy=True)
    >>> torch.allclose(rows.index_select(0, torch.tensor([2, 0])), G[[2, 0]])
    True
    """
    inputs = _as_tuple(X)
    _check_samples_independent(module)
    linears = _trainable_linears(module)
    if linears is not None:
        result = _gram_by_hooks(module, per_sample_loss, inputs, y, linears)
        if result is not None:
            rows, losses = result
            return (rows if lazy else rows.full()), losses
    _check_deterministic(module)
    losses = _checked_losses(per_sample_loss(module(*inputs), y), inputs[0].shape[0])
    gram = per_sample_gram_functional(module, per_sample_loss, inputs, y)
    return (GramRows([_Matrix(gram)], gram.shape[0], gram) if lazy else gram), losses


@torch.enable_grad()
def per_sample_gram_functional(
    module: nn.Module,
    per_sample_loss: PerSampleLoss,
    X: Inputs,
    y: torch.Tensor,
) -> torch.Tensor:
    """Gram matrix of the per-sample gradients by ``torch.func`` (generic path and oracle).

    Each sample is run alone as a batch of one through ``functional_call`` under ``vmap``
    of ``grad``; buffers and frozen parameters are passed through unchanged. The per-sample
    gradients are materialised as a ``(B, n_trainable)`` matrix ``J`` and ``J J^T`` is
    returned, so memory grows as ``B * n_trainable``.

    Parameters
    ----------
    module : torch.nn.Module
        The network, called as ``module(*X)``. It must be deterministic (eval mode for
        dropout) and must not depend on the batch size, since it sees batches of one.
    per_sample_loss : callable
        ``per_sample_loss(output, y)`` returns the unreduced losses, shape ``(B,)``.
    X : torch.Tensor or sequence of torch.Tensor
        The minibatch, ``(B, ...)``, or a tuple of such tensors passed as ``module(*X)``.
    y : torch.Tensor
        The targets, ``(B, ...)``.

    Returns
    -------
    torch.Tensor
        ``(B, B)`` Gram matrix of the per-sample gradients of the trainable parameters.

    Raises
    ------
    ValueError
        If a BatchNorm layer uses batch statistics or a dropout layer is in training mode.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_iw.solvers import per_sample_gram, per_sample_gram_functional
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    >>> X, y = torch.randn(4, 3), torch.tensor([0.0, 1.0, 1.0, 0.0])
    >>> def per_sample_loss(output, target):
    ...     return nn.functional.binary_cross_entropy_with_logits(
    ...         output.squeeze(1), target, reduction="none"
    ...     )
    >>> G = per_sample_gram_functional(model, per_sample_loss, X, y)
    >>> G.shape
    torch.Size([4, 4])
    >>> torch.allclose(G, per_sample_gram(model, per_sample_loss, X, y)[0], atol=1e-6)
    True
    """
    jac = per_sample_jacobian(module, per_sample_loss, X, y)
    return jac @ jac.T


def per_sample_jacobian(
    module: nn.Module,
    per_sample_loss: PerSampleLoss,
    X: Inputs,
    y: torch.Tensor,
) -> torch.Tensor:
    """Per-sample gradients of the trainable parameters, flattened, by ``torch.func``.

    Parameters
    ----------
    module, per_sample_loss, X, y
        As for :func:`per_sample_gram_functional`.

    Returns
    -------
    torch.Tensor
        ``(B, n_trainable)``: row ``i`` is the gradient of sample ``i``'s loss (``(B, 0)``
        for a module without trainable parameters).
    """
    inputs = _as_tuple(X)
    _check_samples_independent(module)
    _check_deterministic(module)
    batch_size = inputs[0].shape[0]
    trainable = {n: p.detach() for n, p in module.named_parameters() if p.requires_grad}
    fixed = {n: p.detach() for n, p in module.named_parameters() if not p.requires_grad}
    fixed.update(module.named_buffers())
    if not trainable:
        return _reference_tensor(module, inputs).new_zeros(batch_size, 0)

    def sample_loss(
        params: dict[str, torch.Tensor], xs: tuple[torch.Tensor, ...], yi: torch.Tensor
    ) -> torch.Tensor:
        # vmap strips the batch dimension; restore a batch of one for the module and loss.
        output = functional_call(module, {**params, **fixed}, tuple(x.unsqueeze(0) for x in xs))
        return per_sample_loss(output, yi.unsqueeze(0)).sum()

    grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))(trainable, inputs, y)
    return torch.cat([g.reshape(batch_size, -1) for g in grads.values()], dim=1)


def _gram_by_hooks(
    module: nn.Module,
    per_sample_loss: PerSampleLoss,
    inputs: tuple[torch.Tensor, ...],
    y: torch.Tensor,
    linears: list[nn.Linear],
) -> tuple[GramRows, torch.Tensor] | None:
    """Fast path: one hooked forward and one backward to the ``nn.Linear`` outputs.

    Returns ``None`` (nothing to undo: parameters and ``.grad`` are untouched) when a
    layer input does not lead with the batch dimension, so the caller can fall back.
    """
    batch_size = inputs[0].shape[0]
    calls: dict[nn.Linear, list[tuple[torch.Tensor, int, torch.Tensor]]] = {m: [] for m in linears}

    def record(layer: nn.Linear, a: torch.Tensor, output: torch.Tensor) -> bool:
        if not output.requires_grad:  # called under no_grad: contributes no gradient
            return False
        calls[layer].append((a.detach(), a._version, output))
        return True

    def hook(layer: nn.Linear, args: tuple, kwargs: dict, output: torch.Tensor):
        if not record(layer, args[0] if args else kwargs["input"], output):
            return None
        # Hand a copy downstream: an in-place op on the output (ReLU(inplace=True)) would
        # otherwise rebind ``output`` in autograd and the gradient we take would be wrong.
        return output.clone()

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in linears]
    token = _RECORDER.set(record)
    try:
        losses = _checked_losses(per_sample_loss(module(*inputs), y), batch_size)
    finally:
        _RECORDER.reset(token)
        for handle in handles:
            handle.remove()

    ref = _reference_tensor(module, inputs)
    recorded = [(m, c) for m, cs in calls.items() for c in cs]
    if any(a.dim() < 2 or a.shape[0] != batch_size for _, (a, _, _) in recorded):
        return None
    if any(a._version != version for _, (a, version, _) in recorded):
        raise RuntimeError(
            "an nn.Linear input was modified in place after the layer used it; the forward "
            "graph is invalid for the weighted backward of the importance-weights step"
        )
    if not recorded or not losses.requires_grad:
        return GramRows([], batch_size, ref), losses

    # One backward to all recorded outputs; retain the graph for the caller's update.
    deltas = torch.autograd.grad(
        losses.sum(), [out for _, (_, _, out) in recorded], retain_graph=True, allow_unused=True
    )
    per_layer: dict[nn.Linear, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
    for (layer, (a, _, _)), delta in zip(recorded, deltas, strict=True):
        if delta is None:  # output does not reach the loss: zero gradient
            continue
        acts, dels = per_layer.setdefault(layer, ([], []))
        acts.append(a.reshape(batch_size, -1, a.shape[-1]))
        dels.append(delta.reshape(batch_size, -1, delta.shape[-1]))
    parts = [
        # Calls of a shared layer become extra time steps of the same samples.
        _linear_part(
            layer,
            acts[0] if len(acts) == 1 else torch.cat(acts, dim=1),
            dels[0] if len(dels) == 1 else torch.cat(dels, dim=1),
        )
        for layer, (acts, dels) in per_layer.items()
    ]
    return GramRows(parts, batch_size, ref), losses


class _Matrix:
    """Gram contribution given as a whole ``(B, B)`` matrix (the generic path), which
    keeps no factors to form weighted gradients from."""

    params: list[nn.Parameter] | None = None

    def __init__(self, gram: torch.Tensor):
        self.gram = gram

    def rows(self, index: torch.Tensor | None) -> torch.Tensor:
        # A fresh tensor, as the other parts return: callers may accumulate into it.
        return self.gram.clone() if index is None else self.gram.index_select(0, index)

    def diagonal(self) -> torch.Tensor:
        return self.gram.diagonal()


# A step whose active samples are at most this share of its batch restricts its products
# (weighted gradients, the step check's forward pass) to them; selecting rows costs more
# than it saves on busier batches (digits MLP, most samples active).
SELECT_ACTIVE_AT_MOST = 0.5


class _Explicit:
    """Gram contribution ``J J^T`` of materialised per-sample gradients ``J``, ``(B, P)``,
    the flattened gradients of ``params`` side by side."""

    def __init__(self, jac: torch.Tensor, params: list[nn.Parameter]):
        self.jac = jac
        self.params = params

    def weighted(self, alpha: torch.Tensor, samples: torch.Tensor | None) -> list[torch.Tensor]:
        rows = self.jac if samples is None else self.jac.index_select(0, samples)
        flat = (alpha.to(self.jac.dtype) @ rows).split([p.numel() for p in self.params])
        return [g.view_as(p) for g, p in zip(flat, self.params, strict=True)]

    def rows(self, index: torch.Tensor | None) -> torch.Tensor:
        left = self.jac if index is None else self.jac.index_select(0, index)
        return left @ self.jac.T

    def jacobian(self) -> torch.Tensor:
        return self.jac

    def add_weighted(
        self, out: torch.Tensor, index: torch.Tensor, samples: torch.Tensor, weights: torch.Tensor
    ) -> None:
        out.index_add_(0, index, weights[:, None] * self.jac.index_select(0, samples))

    def diagonal(self) -> torch.Tensor:
        return self.jac.square().sum(dim=1)


class _Factored:
    """Gram contribution ``sum_{t,s} <D_it, D_js> (<A_it, A_js> + bias)`` of one linear
    layer from its inputs ``A`` ``(B, T, in)`` and output gradients ``D`` ``(B, T, out)``,
    via the two ``(BT, BT)`` Gram matrices of the flattened steps (their rows only)."""

    def __init__(self, acts: torch.Tensor, deltas: torch.Tensor, params: list[nn.Parameter]):
        self.batch_size, self.steps, _ = acts.shape
        self.acts = acts.reshape(self.batch_size * self.steps, -1)
        self.deltas = deltas.reshape(self.batch_size * self.steps, -1)
        self.params = params  # [weight] or [weight, bias]
        self.with_bias = len(params) == 2

    def weighted(self, alpha: torch.Tensor, samples: torch.Tensor | None) -> list[torch.Tensor]:
        # sum_i alpha_i sum_t D_it A_it^T: the step weights each sample's rows.
        per_row = alpha.to(self.deltas.dtype)
        if self.steps > 1:
            per_row = per_row.repeat_interleave(self.steps)
        acts, deltas = self.acts, self.deltas
        if samples is not None:
            rows = self._step_rows(samples)
            acts, deltas = acts.index_select(0, rows), deltas.index_select(0, rows)
        scaled = deltas * per_row[:, None]
        grads = [scaled.T @ acts]
        return grads + [scaled.sum(dim=0)] if self.with_bias else grads

    def _step_rows(self, index: torch.Tensor) -> torch.Tensor:
        """The flattened rows of the samples ``index``: sample ``i`` owns rows
        ``i * T ... i * T + T - 1``."""
        if self.steps == 1:
            return index
        offsets = torch.arange(self.steps, device=index.device)
        return (index[:, None] * self.steps + offsets).reshape(-1)

    def jacobian(self) -> torch.Tensor:
        # sum_t outer(D_it, A_it) per sample, flattened as the weight, then the bias's.
        acts = self.acts.reshape(self.batch_size, self.steps, -1)
        deltas = self.deltas.reshape(self.batch_size, self.steps, -1)
        grads = _summed_outer_products(deltas, acts).reshape(self.batch_size, -1)
        return torch.cat([grads, deltas.sum(dim=1)], dim=1) if self.with_bias else grads

    def add_weighted(
        self, out: torch.Tensor, index: torch.Tensor, samples: torch.Tensor, weights: torch.Tensor
    ) -> None:
        # The rows of ``samples`` only, weighted through their output gradients.
        acts = self.acts.reshape(self.batch_size, self.steps, -1).index_select(0, samples)
        deltas = self.deltas.reshape(self.batch_size, self.steps, -1).index_select(0, samples)
        deltas = deltas * weights[:, None, None]
        grads = _summed_outer_products(deltas, acts)
        n_weight = acts.shape[2] * deltas.shape[2]
        out[:, :n_weight].index_add_(0, index, grads.reshape(len(samples), n_weight))
        if self.with_bias:
            out[:, n_weight:].index_add_(0, index, deltas.sum(dim=1))

    def rows(self, index: torch.Tensor | None) -> torch.Tensor:
        acts, deltas, steps = self.acts, self.deltas, self.steps
        if index is not None:
            index = self._step_rows(index)
            acts, deltas = acts.index_select(0, index), deltas.index_select(0, index)
        gram = acts @ self.acts.T
        if self.with_bias:
            gram += 1.0  # the bias sees a constant input 1
        gram *= deltas @ self.deltas.T
        if steps > 1:
            gram = gram.reshape(-1, steps, self.batch_size, steps).sum(dim=(1, 3))
        return gram

    def diagonal(self) -> torch.Tensor:
        if self.steps == 1:
            sq_acts = self.acts.square().sum(dim=1)
            return (sq_acts + 1.0 if self.with_bias else sq_acts) * self.deltas.square().sum(1)
        acts = self.acts.reshape(self.batch_size, self.steps, -1)
        deltas = self.deltas.reshape(self.batch_size, self.steps, -1)
        inner = acts @ acts.mT
        if self.with_bias:
            inner += 1.0
        return (inner * (deltas @ deltas.mT)).sum(dim=(1, 2))


def _summed_outer_products(deltas: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
    """``sum_t outer(D_it, A_it)`` per sample, ``(B, out, in)``, from ``deltas``
    ``(B, T, out)`` and ``acts`` ``(B, T, in)``: the per-sample weight gradients."""
    if deltas.shape[1] == 1:
        # Broadcast: bmm over an inner size of 1 took 3-10x as long at B = 200.
        return deltas.mT * acts
    # The product's last dimension is the larger one (a (B, 64, 1) product was 10x
    # slower than its (B, 1, 64) transpose).
    if acts.shape[2] >= deltas.shape[2]:
        return torch.bmm(deltas.mT, acts)
    return torch.bmm(acts.mT, deltas).mT


def _linear_part(
    layer: nn.Linear, acts: torch.Tensor, deltas: torch.Tensor
) -> _Explicit | _Factored:
    """Gram contribution of one linear layer from its inputs and output gradients.

    ``acts`` are the layer inputs ``(B, T, in)``, ``deltas`` the gradients of the summed
    loss with respect to the layer outputs ``(B, T, out)``; the layer's trainable weight
    and bias are the parameters. The contribution is kept factored, or as the
    materialised ``(B, out * in)`` per-sample weight gradients, whichever
    :func:`_materialise_is_cheaper` prefers.
    """
    batch_size, steps, n_in = acts.shape
    with_bias = layer.bias is not None and layer.bias.requires_grad
    if not layer.weight.requires_grad:
        return _Explicit(deltas.sum(dim=1), [layer.bias])
    params = [layer.weight, layer.bias] if with_bias else [layer.weight]
    if _materialise_is_cheaper(batch_size, steps, n_in, deltas.shape[2]):
        grads = _summed_outer_products(deltas, acts).reshape(batch_size, -1)
        if with_bias:
            grads = torch.cat([grads, deltas.sum(dim=1)], dim=1)
        return _Explicit(grads, params)
    return _Factored(acts, deltas, params)


class GramRows:
    """Gram matrix of per-sample gradients whose rows are computed when first read.

    Returned by :func:`per_sample_gram` with ``lazy=True`` and accepted by
    :func:`~sklearn_iw.solvers.solve_box_qp` in place of ``G``. It keeps each layer's
    factors (inputs and output gradients) and computes a set of rows of ``G`` with one
    matrix product per layer; rows are kept, so each is computed at most once, and memory
    grows with the rows read rather than with ``B^2``. The solver reads only the rows of
    its working sets and supports (a quarter to a half of them on full batches of real
    data), so large batches skip most of the work of ``G``. The same factors give the
    weighted gradient of the step (:meth:`weighted_gradients`).

    Parameters
    ----------
    parts : list
        The per-layer contributions, summed.
    batch_size : int
        ``B``.
    like : torch.Tensor
        A tensor with the dtype and device of ``G``.

    Attributes
    ----------
    shape : torch.Size
        ``(B, B)``.
    ndim : int
        2.
    dtype : torch.dtype
        The dtype of the rows.
    device : torch.device
        The device of the rows.
    rank_bound : int or None
        An upper bound of the rank of ``G``: the number of trainable parameter entries.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_iw.solvers import per_sample_gram, solve_box_qp
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(3, 2).double()
    >>> X, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1, 0])
    >>> def loss(output, target):
    ...     return nn.functional.cross_entropy(output, target, reduction="none")
    >>> rows, _ = per_sample_gram(model, loss, X, y, lazy=True)
    >>> rows.shape, rows.diagonal().shape
    (torch.Size([6, 6]), torch.Size([6]))
    >>> G, _ = per_sample_gram(model, loss, X, y)
    >>> p = torch.full((6,), 0.1, dtype=torch.float64)
    >>> torch.allclose(solve_box_qp(rows, p, 1.0).alpha, solve_box_qp(G, p, 1.0).alpha)
    True
    """

    ndim = 2

    def __init__(self, parts: list, batch_size: int, like: torch.Tensor):
        self._parts = parts
        self.shape = torch.Size((batch_size, batch_size))
        self.dtype = like.dtype
        self.device = like.device
        # Computed rows, in the order they were computed (capacity grows by doubling), and
        # each row's position there (-1: not computed yet).
        self._cache = torch.empty(0, batch_size, dtype=self.dtype, device=self.device)
        self._n_cached = 0
        self._slot = torch.full((batch_size,), -1, dtype=torch.long, device=self.device)
        self._diagonal: torch.Tensor | None = None

    def _compute(self, index: torch.Tensor | None) -> torch.Tensor:
        """Rows ``index`` (all if ``None``) summed over the parts, freshly computed."""
        n_rows = self.shape[0] if index is None else index.numel()
        gram = None
        for part in self._parts:
            rows = part.rows(index)
            # Accumulate into the first part's (fresh) result: one buffer fewer.
            gram = rows if gram is None else gram.add_(rows)
        if gram is None:
            return torch.zeros(n_rows, self.shape[1], dtype=self.dtype, device=self.device)
        return gram.to(self.dtype)

    def full(self) -> torch.Tensor:
        """Return the whole ``(B, B)`` matrix."""
        return self._compute(None)

    def jacobian(self) -> torch.Tensor | None:
        """Return the ``(B, rank_bound)`` per-sample gradients ``J`` with ``G = J J^T``
        (``None`` for a Gram matrix of the generic path)."""
        if any(part.params is None for part in self._parts):
            return None
        return torch.cat([part.jacobian() for part in self._parts], dim=1).to(self.dtype)

    def add_weighted_gradients(
        self, out: torch.Tensor, index: torch.Tensor, samples: torch.Tensor, weights: torch.Tensor
    ) -> bool:
        """Add ``weights_i g_{samples_i}`` to the rows ``index`` of ``out``, from the kept
        factors (the rows of :meth:`jacobian`, without forming it).

        Parameters
        ----------
        out : torch.Tensor
            ``(n, rank_bound)`` the rows to add to, in the dtype of the gradients.
        index : torch.Tensor
            ``(b,)`` the rows of ``out``.
        samples : torch.Tensor
            ``(b,)`` the samples of the batch whose gradients are added.
        weights : torch.Tensor
            ``(b,)`` their weights.

        Returns
        -------
        bool
            False, with ``out`` untouched, for a Gram matrix of the generic path (no
            per-sample gradients kept).
        """
        if any(part.params is None for part in self._parts):
            return False
        start = 0
        for part in self._parts:
            width = sum(param.numel() for param in part.params)
            part.add_weighted(out[:, start : start + width], index, samples, weights)
            start += width
        return True

    @property
    def rank_bound(self) -> int | None:
        """The number of trainable parameter entries, which bounds the rank of ``G``
        (``None`` for a Gram matrix of the generic path, which keeps no parameters)."""
        if any(part.params is None for part in self._parts):
            return None
        return sum(param.numel() for part in self._parts for param in part.params)

    def weighted_gradients(self, alpha: torch.Tensor) -> dict[nn.Parameter, torch.Tensor] | None:
        """Return ``sum_i alpha_i g_i`` per trainable parameter, from the kept factors.

        Parameters
        ----------
        alpha : torch.Tensor
            ``(B,)`` weights of the samples.

        Returns
        -------
        dict or None
            Each trainable parameter whose gradient is not identically zero mapped to its
            weighted gradient (one matrix product per layer instead of a backward pass);
            ``None`` for a Gram matrix of the generic path, which keeps no factors.
        """
        if any(part.params is None for part in self._parts):
            return None
        # Samples with alpha_i = 0 add nothing: where they are most of the batch (two
        # thirds of a batch of 200 on large tables), the products take the others' rows.
        samples = torch.nonzero(alpha).flatten()
        if samples.numel() <= SELECT_ACTIVE_AT_MOST * len(alpha):
            alpha = alpha.index_select(0, samples)
        else:
            samples = None
        return {
            param: grad.to(param.dtype)
            for part in self._parts
            for param, grad in zip(part.params, part.weighted(alpha, samples), strict=True)
        }

    def diagonal(self) -> torch.Tensor:
        """Return the ``(B,)`` diagonal ``G_ii = ||g_i||^2`` without computing any row."""
        if self._diagonal is None:
            self._diagonal = torch.zeros(self.shape[0], dtype=self.dtype, device=self.device)
            for part in self._parts:
                self._diagonal += part.diagonal().to(self.dtype)
        return self._diagonal

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """Return the rows ``index`` of ``G`` (``dim`` must be 0), computing missing ones."""
        if dim != 0:
            raise ValueError("GramRows gives rows only: dim must be 0")
        missing = index[self._slot.index_select(0, index) < 0].unique()
        n_new = missing.numel()
        if n_new:
            needed = self._n_cached + n_new
            if needed > self._cache.shape[0]:
                # Memory grows with the rows read, not with B^2.
                grown = self._cache.new_empty(
                    min(self.shape[0], max(needed, 2 * self._cache.shape[0])), self.shape[1]
                )
                grown[: self._n_cached] = self._cache[: self._n_cached]
                self._cache = grown
            self._cache[self._n_cached : needed] = self._compute(missing)
            self._slot[missing] = torch.arange(self._n_cached, needed, device=self.device)
            self._n_cached = needed
        return self._cache.index_select(0, self._slot.index_select(0, index))


def _materialise_is_cheaper(batch_size: int, steps: int, n_in: int, n_out: int) -> bool:
    """Whether materialising per-sample weight gradients beats the Gram-of-Grams route.

    Multiply-add counts: the Gram route forms two ``(BT, BT)`` Gram matrices,
    ``(BT)^2 (in + out + 1)``; materialising costs ``BT * out * in`` for the per-sample
    gradients plus ``B^2 * out * in`` for their Gram. For large ``B`` this is the rule
    "materialise when ``out * in < T^2 (in + out)``": only long sequences through small
    layers materialise, and single-step layers (``T = 1``) essentially never do. Memory
    follows the same comparison (``(BT)^2`` versus ``B * out * in``).
    """
    rows = batch_size * steps
    gram_route = rows * rows * (n_in + n_out + 1)
    materialise = (rows + batch_size * batch_size) * n_in * n_out
    return materialise < gram_route


def _trainable_linears(module: nn.Module) -> list[nn.Linear] | None:
    """The ``nn.Linear`` layers holding trainable parameters, or ``None`` if the fast path
    does not apply (a trainable parameter outside a plain ``nn.Linear``, or one shared
    between layers, whose cross-layer terms the per-layer formula would miss)."""
    linears: list[nn.Linear] = []
    seen: set[int] = set()
    for m in module.modules():
        # The registry itself: parameters(recurse=False) costs ~10x more, at every step.
        own = [p for p in m._parameters.values() if p is not None and p.requires_grad]
        if not own:
            continue
        plain = isinstance(m, nn.Linear) and type(m).forward is nn.Linear.forward
        if not plain or any(p is not m.weight and p is not m.bias for p in own):
            return None
        if any(id(p) in seen for p in own):
            return None
        seen.update(id(p) for p in own)
        linears.append(m)
    return linears


def _check_samples_independent(module: nn.Module) -> None:
    """Raise if a BatchNorm layer normalises with batch statistics."""
    for m in module.modules():
        if isinstance(m, _BatchNorm) and (m.training or not m.track_running_stats):
            raise ValueError(_COUPLED_MESSAGE)


def _check_deterministic(module: nn.Module) -> None:
    """Raise if a dropout layer is active: the functional path would redraw its masks."""
    for m in module.modules():
        active = (
            (isinstance(m, _DropoutNd) and m.p > 0)
            or (isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1)
            or (isinstance(m, nn.MultiheadAttention) and m.dropout > 0)
        )
        if active and m.training:
            raise ValueError(
                f"{type(m).__name__} is in training mode and this module needs the generic "
                "per-sample gradient path, which would draw different dropout masks than the "
                "forward; call module.eval() or use another optimizer"
            )


def _checked_losses(losses: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Validate that ``per_sample_loss`` returned one loss per sample."""
    if losses.shape != (batch_size,):
        raise ValueError(
            f"per_sample_loss must return the unreduced losses of shape ({batch_size},), "
            f"got {tuple(losses.shape)}"
        )
    return losses


def _reference_tensor(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Tensor whose dtype and device the Gram matrix takes: the first trainable parameter,
    else any parameter, else the first input."""
    params = [p for m in module.modules() for p in m._parameters.values() if p is not None]
    trainable = [p for p in params if p.requires_grad]
    return (trainable or params or list(inputs))[0]


def _as_tuple(X: Inputs) -> tuple[torch.Tensor, ...]:
    """Normalise ``X`` to the tuple of positional inputs of the module."""
    inputs = (X,) if isinstance(X, torch.Tensor) else tuple(X)
    if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
        raise TypeError("X must be a tensor or a non-empty sequence of tensors")
    return inputs
