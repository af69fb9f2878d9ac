"""What one Jacobian costs, estimated from the sizes alone, before SymPy builds anything.

Every entry ∂Y_ij/∂X_kl is SymPy's ``diff`` of the forward map, then printed with the forward
values abbreviated (each Z[l]ᵢⱼ and A[l]ᵢⱼ expression replaced by its name, one pass per name).
Two numbers bound that work:

- the **entries** of the array, |Y| × |X|: each is differentiated, compared, checked against the
  closed form and printed (about 2 ms apiece on a laptop, more with a contraction);
- the **symbolic operations**: for each nonzero entry, the size S of the expression differentiated
  plus the size D of its derivative times the passes that abbreviate it (one per forward name, R):
  P · (S + D · (1 + R)), P the nonzero entries.

Sizes are counted on the expression trees (nodes, shared subtrees counted each time they occur,
as SymPy's substitution walks them). One entry of Z[l] = W[l] A[l-1] + b[l] is a sum over n[l-1]
products, so S grows with the product of the sizes below it: J's entry for sizes 4,4,4 and m = 4
has about 1,200 nodes, for sizes 64 about 5 × 10⁷. :func:`estimate` follows the layers the way
:func:`derive.jacobian.quantities.symbolic_model` builds them (a cut quantity is a leaf).

>>> from derive.network.spec import Network
>>> from derive.jacobian.quantities import Quantity, resolve_sizes
>>> net, m = resolve_sizes(Network(depth=2), {"n0": 3, "n1": 3, "n2": 3, "m": 3})
>>> w = estimate(Quantity("J", None), Quantity("W", 1), net, m)
>>> w.entries, w.nonzero, w.size
(9, 9, 434)
>>> z = estimate(Quantity("Z", 1), Quantity("W", 1), net, m)  # δ_ik: W[1]_kl is in row k only
>>> z.entries, z.nonzero
(81, 27)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from derive.catalogue import rules
from derive.jacobian.quantities import Quantity, prod, quantity_shape, sizes_of
from derive.limits import Limit, require
from derive.network.spec import Network

#: entries of one array: 4096 (8×8×8×8) take 10-25 s end to end on this 2-core machine with the
#: contraction or the activation step beside the array, which is as long as a command should take
ENTRIES = Limit("jacobian.entries", 4096, "entries", "--sizes",
                "the array of partial derivatives")
#: SymPy's work, P · (S + D · (1 + R)) (the module docstring). Measured on this machine: J by W[1]
#: at sizes 3 (490,000) 9 s, with m = 4 (870,000) 16 s, at sizes 4 (4.1 million) 44 s; the
#: slowest per operation of the pairs tried is J by a first layer's W, about 18 µs. At the limit a
#: command takes up to about 14 s, plus at most about 10 s of display simplification
SYMBOLIC = Limit("jacobian.symbolic", 750_000, "symbolic operations", "--sizes",
                 "differentiating the forward map entry by entry")


@dataclass(frozen=True)
class Work:
    """The estimate for ∂of/∂wrt: ``entries`` (|of| × |wrt|), ``nonzero`` (P, the entries that
    depend on their variable), ``size`` (S, one entry of ``of``), ``derivative`` (D), ``passes``
    (R, the abbreviations) and ``operations``, P · (S + D · (1 + R))."""

    entries: int
    nonzero: int
    size: int
    derivative: int
    passes: int

    @property
    def operations(self) -> int:
        return self.nonzero * (self.size + self.derivative * (1 + self.passes))


@functools.cache
def _shape_of(expr: sp.Expr, var: sp.Symbol) -> tuple[int, int, int]:
    """(nodes, occurrences of ``var``, nodes of the derivative's own factors) of ``expr``."""
    nodes = sum(1 for _ in sp.preorder_traversal(expr))
    occ = sum(1 for t in sp.preorder_traversal(expr) if t == var)
    dnodes = sum(1 for _ in sp.preorder_traversal(sp.diff(expr, var)))
    return nodes, occ, dnodes


def _act(net: Network, l: int, z_size: int, z_der: int, n: int) -> tuple[int, int]:
    """(S, D) of one entry of A[l] = g(Z[l]) from Z[l]'s (S, D); D = 0 when it does not depend."""
    act = net.activation(l)
    if act is None:  # g{l}(z): its derivative is Subs(Derivative(g(ξ), ξ), ξ, z)
        size, der = 1 + z_size, 4 + z_size
        return size, (der + z_der if z_der else 0)
    if act.kind == "softmax":  # exp(z_i) / Σ_k exp(z_k): every unit of the example
        size = 4 + (n + 1) * (1 + z_size)
        return size, (2 * size + (n + 1) * z_der if z_der else 0)
    nodes, occ, dnodes = _shape_of(act.forward, rules.z)
    size = nodes + occ * (z_size - 1)
    return size, ((dnodes + 3 * z_size) + z_der * max(occ, 1) if z_der else 0)


def estimate(of: Quantity, wrt: Quantity, net: Network, m: int) -> Work:
    """The work of :func:`derive.jacobian.tensor.jacobian` for ``of`` by ``wrt`` on the concrete
    network ``net`` (every size given, as :func:`resolve_sizes` returns it)."""
    n = sizes_of(net)
    of_shape, wrt_shape = quantity_shape(net, m, of), quantity_shape(net, m, wrt)
    entries = prod(of_shape) * prod(wrt_shape)
    top = net.L if of.base == "J" else (of.layer or 0)
    # Follow one variable x = wrt[k, l] up the layers. For each quantity: the size S of one entry,
    # the size D of the derivative of an entry that contains x (0: none does), and how many
    # entries contain x, as (units, examples).
    at: dict[tuple[str, int], tuple[int, int, int, int]] = {}
    a = (1, 1, 1, 1) if wrt.base == "X" else (1, 0, 0, 0)  # A[0] = X
    at["A", 0] = a
    passes = 0
    for l in range(1, top + 1):
        size_a, der_a, units, examples = a
        size_z = 2 + n[l - 1] * (2 + size_a)  # Σ_p W[l]_ip A[l-1]_pj + b[l]_i
        if wrt.key == ("Z", l):
            z = (1, 1, 1, 1)
        elif wrt.key == ("W", l):  # row k of Z[l], every example; the coefficient is A[l-1]_lj
            z = (size_z, size_a, 1, m)
        elif wrt.key == ("b", l):
            z = (size_z, 1, 1, m)
        elif der_a:  # x is in A[l-1]: every unit of Z[l], in the examples that contain x
            z = (size_z, units * (3 + der_a), n[l], examples)
        else:
            z = (size_z, 0, 0, 0)
        at["Z", l] = z
        if wrt.key == ("A", l):
            a = (1, 1, 1, 1)
        else:
            s, d = _act(net, l, z[0], z[1], n[l])
            a = (s, d, n[l] if d and _softmax(net, l) else z[2], z[3])
        at["A", l] = a
        for key in (("A", l), ("Z", l)):  # the abbreviations: one pass per forward entry
            if key not in (of.key, wrt.key) and not (key[0] == "A" and _softmax(net, l)):
                passes += n[l] * m
    if of.base == "J":
        size_a, der_a, units, examples = a
        loss = net.loss_entry
        if loss is None:  # ℓ(a, y) and its derivative Derivative(ℓ(a, y), a)
            per_size, per_der = 3 + size_a, 6 + 2 * size_a
        else:
            nodes, occ, dnodes = _shape_of(loss.per_unit, rules.a)
            per_size, per_der = nodes + occ * (size_a - 1), dnodes + 3 * size_a
        size = 2 + n[net.L] * m * per_size
        derivative = units * examples * (per_der + der_a) if der_a else 0
        nonzero = prod(wrt_shape) if derivative else 0
        return Work(entries, nonzero, size, derivative, passes)
    if of.key == wrt.key:  # the identity: δ_ik δ_jl
        return Work(entries, prod(wrt_shape), 1, 1, passes)
    key = ("A", 0) if of.base == "X" else (of.base, of.layer or 0)
    size, derivative, units, examples = at.get(key, (1, 0, 0, 0))  # W, b: leaves
    nonzero = prod(wrt_shape) * units * examples if derivative else 0
    return Work(entries, nonzero, size, derivative, passes)


def _softmax(net: Network, l: int) -> bool:
    act = net.activation(l)
    return act is not None and act.kind == "softmax"


def require_work(of: Quantity, wrt: Quantity, net: Network, m: int) -> Work:
    """Refuse (``ResourceLimit``) an array over :data:`ENTRIES` or :data:`SYMBOLIC`, before
    anything is built; returns the estimate."""
    w = estimate(of, wrt, net, m)
    what = f"∂{of.text}/∂{wrt.text} at sizes {','.join(map(str, sizes_of(net)))} and m = {m}"
    require(ENTRIES, w.entries, what)
    require(SYMBOLIC, w.operations, what)
    return w
