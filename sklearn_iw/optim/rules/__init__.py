"""The optimization rules, one module each: the spec and, where ``torch.optim`` does not
compute the lectures' formula, the hand-written torch optimizer.

``torch.optim`` implements close relatives of several classic rules whose iterates differ
from the lectures' formulas (its momentum buffer starts at ``g`` whatever the dampening,
its Nesterov is the reparametrised form, AdaGrad and RMSprop add ``eps`` outside the
square root, Rprop skips the step after a sign change); those rules are written out. Each
spec's docstring holds the rule's formula, why it is or is not ``torch.optim``'s, and an
example; its ``computed_by`` says which. The names are public in
:mod:`sklearn_iw.solvers`.

Notation: ``g`` is the gradient of the mean loss on the current batch at the current
weights ``w``, ``t = 1, 2, ...`` counts steps and every product, quotient, comparison or
root is elementwise (one adaptive quantity per weight). Full-batch specs
(``full_batch = True``) get the whole training set as one batch, so one step per epoch:
the rules that compare successive gradients (Rprop, Quickprop, delta-delta,
delta-bar-delta) need gradients that differ only because the weights moved, not because
the batch changed.
"""
