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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

__all__ = ["per_sample_gram", "per_sample_gram_functional"]

PerSampleLoss = Callable[..., torch.Tensor]
Inputs = torch.Tensor | Sequence[torch.Tensor]

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
) -> tuple[torch.Tensor, torch.Tensor]:
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

    Returns
    -------
    G : torch.Tensor
        ``(B, B)`` Gram matrix ``G_ij = <g_i, g_j>`` over the trainable parameters, in the
        dtype and on the device of the module's parameters.
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
    """
    inputs = _as_tuple(X)
    _check_samples_independent(module)
    linears = _trainable_linears(module)
    if linears is not None:
        result = _gram_by_hooks(module, per_sample_loss, inputs, y, linears)
        if result is not None:
            return result
    _check_deterministic(module)
    losses = _checked_losses(per_sample_loss(module(*inputs), y), inputs[0].shape[0])
    return per_sample_gram_functional(module, per_sample_loss, inputs, y), losses


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
    inputs = _as_tuple(X)
    _check_samples_independent(module)
    _check_deterministic(module)
    batch_size = inputs[0].shape[0]
    trainable = {n: p.detach() for n, p in module.named_parameters() if p.requires_grad}
    fixed = {n: p.detach() for n, p in module.named_parameters() if not p.requires_grad}
    fixed.update(module.named_buffers())
    if not trainable:
        return _reference_tensor(module, inputs).new_zeros(batch_size, batch_size)

    def sample_loss(
        params: dict[str, torch.Tensor], xs: tuple[torch.Tensor, ...], yi: torch.Tensor
    ) -> torch.Tensor:
        # vmap strips the batch dimension; restore a batch of one for the module and loss.
        output = functional_call(module, {**params, **fixed}, tuple(x.unsqueeze(0) for x in xs))
        return per_sample_loss(output, yi.unsqueeze(0)).sum()

    grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))(trainable, inputs, y)
    jac = torch.cat([g.reshape(batch_size, -1) for g in grads.values()], dim=1)
    return jac @ jac.T


def _gram_by_hooks(
    module: nn.Module,
    per_sample_loss: PerSampleLoss,
    inputs: tuple[torch.Tensor, ...],
    y: torch.Tensor,
    linears: list[nn.Linear],
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Fast path: one hooked forward and one backward to the ``nn.Linear`` outputs.

    Returns ``None`` (nothing to undo: parameters and ``.grad`` are untouched) when a
    layer input does not lead with the batch dimension, so the caller can fall back.
    """
    batch_size = inputs[0].shape[0]
    calls: dict[nn.Linear, list[tuple[torch.Tensor, int, torch.Tensor]]] = {m: [] for m in linears}

    def record(
        layer: nn.Linear, args: tuple, kwargs: dict, output: torch.Tensor
    ) -> torch.Tensor | None:
        if not output.requires_grad:  # called under no_grad: contributes no gradient
            return None
        a = args[0] if args else kwargs["input"]
        calls[layer].append((a.detach(), a._version, output))
        # Hand a copy downstream: an in-place op on the output (ReLU(inplace=True)) would
        # otherwise rebind ``output`` in autograd and the gradient we take would be wrong.
        return output.clone()

    handles = [m.register_forward_hook(record, with_kwargs=True) for m in linears]
    try:
        losses = _checked_losses(per_sample_loss(module(*inputs), y), batch_size)
    finally:
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
        return ref.new_zeros(batch_size, batch_size), losses

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
    gram = None
    for layer, (acts, dels) in per_layer.items():
        # Calls of a shared layer become extra time steps of the same samples.
        part = _linear_gram(
            acts[0] if len(acts) == 1 else torch.cat(acts, dim=1),
            dels[0] if len(dels) == 1 else torch.cat(dels, dim=1),
            with_weight=layer.weight.requires_grad,
            with_bias=layer.bias is not None and layer.bias.requires_grad,
        )
        # Accumulate into the first part (a fresh tensor) to save one (B, B) buffer.
        gram = part if gram is None else gram.add_(part)
    if gram is None:
        return ref.new_zeros(batch_size, batch_size), losses
    return gram.to(ref.dtype), losses


def _linear_gram(
    acts: torch.Tensor, deltas: torch.Tensor, *, with_weight: bool, with_bias: bool
) -> torch.Tensor:
    """Gram contribution of one linear layer from its inputs and output gradients.

    Parameters
    ----------
    acts : torch.Tensor
        Layer inputs, ``(B, T, in)``.
    deltas : torch.Tensor
        Gradients of the summed loss with respect to the layer outputs, ``(B, T, out)``.
    with_weight, with_bias : bool
        Which of the layer's parameters are trainable.

    Returns
    -------
    torch.Tensor
        ``(B, B)``: ``sum_{t,s} <D_it, D_js> (<A_it, A_js> + bias)``, computed either from
        the two ``(BT, BT)`` Gram matrices or from the materialised ``(B, out * in)``
        per-sample weight gradients, whichever :func:`_materialise_is_cheaper` prefers.
    """
    batch_size, steps, n_in = acts.shape
    n_out = deltas.shape[2]
    if not with_weight:
        bias_grads = deltas.sum(dim=1)
        return bias_grads @ bias_grads.T
    if _materialise_is_cheaper(batch_size, steps, n_in, n_out):
        weight_grads = torch.einsum("bto,bti->boi", deltas, acts).reshape(batch_size, -1)
        gram = weight_grads @ weight_grads.T
        if with_bias:
            bias_grads = deltas.sum(dim=1)
            gram += bias_grads @ bias_grads.T
        return gram
    flat_acts = acts.reshape(batch_size * steps, n_in)
    flat_deltas = deltas.reshape(batch_size * steps, n_out)
    gram = flat_acts @ flat_acts.T
    if with_bias:
        gram += 1.0  # the bias sees a constant input 1
    gram *= flat_deltas @ flat_deltas.T
    if steps > 1:
        gram = gram.reshape(batch_size, steps, batch_size, steps).sum(dim=(1, 3))
    return gram


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
        own = [p for p in m.parameters(recurse=False) if p.requires_grad]
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
    params = list(module.parameters())
    trainable = [p for p in params if p.requires_grad]
    return (trainable or params or list(inputs))[0]


def _as_tuple(X: Inputs) -> tuple[torch.Tensor, ...]:
    """Normalise ``X`` to the tuple of positional inputs of the module."""
    inputs = (X,) if isinstance(X, torch.Tensor) else tuple(X)
    if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
        raise TypeError("X must be a tensor or a non-empty sequence of tensors")
    return inputs
