"""The loss at the top of the network: where the derivation starts (dA[L]) and the output layer's
simplification (sigmoid + bce ⇒ dZ[L] = A[L] − Y), derived by SymPy from the catalogue entries,
never looked up. The loss plugs into the walk like a layer: it emits dA[L] with its own local
problem, Σ ℓ(A[L], Y), and the output layer proves dZ[L] against Σ ℓ(g(Z[L]), Y).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.names import dim_symbol
from derive.errors import InternalError
from derive.layers.base import Definition, Local, SymFn, Walk

if TYPE_CHECKING:
    from derive.network.spec import Network


def seed(walk: Walk) -> None:
    """dA[L] = ∂ℓ/∂A[L], element-wise, from SymPy's derivative of the catalogue's loss; a
    generic loss starts the derivation at dA[L], taken as given (nothing to emit)."""
    net, L = walk.net, walk.net.L
    loss = net.loss_entry
    if loss is None:
        return
    dl = loss.per_unit_at(loss.gradient, dim_symbol(L))
    rule = "loss_gradient"
    if loss.coupled:
        rule, dA_L, note = "coupled_loss_gradient", *coupled_gradient(net, walk.sym)
    else:
        dA_L = entrywise(dl, (rules.a, rules.y), (walk.sym("A", L), walk.sym("Y")), net.output_factor)
        note = f"ℓ = {loss.text}; SymPy: ∂ℓ/∂a = {sp.sstr(loss.gradient, order='none')} (element-wise)"
    if rules.n in loss.per_unit.free_symbols:
        given = "" if net.layers[L] is None else f" (= {net.layers[L]} here)"
        note = f"{note}, with n = n{L}{given}, the number of output units"
    if net.output_factor != 1:  # scale dZ: dA[L] = ∂J/∂A[L], the mean's 1/m written here
        note = f"{note}; {net.scale_rule.output_note}"
    walk.step(L, walk.sym("dA", L), dA_L, rule, (f"loss:{loss.name}",), note)
    walk.emit(L, "dA", dA_L, Local(("A", L), (), ("A", L), (), f"{_factor(net)}Σ ℓ(A[{L}], Y) with ℓ = {loss.name}",
                                   loss=True, generic=False))


def coupled_gradient(net: Network, sym: SymFn) -> tuple[E.Expr, str]:
    """dA[L] of a loss ℓ = Σₖ f(aₖ, yₖ, s) coupled through s = Σₖ yₖ aₖ (per example): the chain
    rule through s gives ∂ℓ/∂aⱼ = ∂f/∂a(aⱼ) + yⱼ Σₖ ∂f/∂s(aₖ), both partials SymPy's diff of the
    catalogue's per_unit. Where ∂f/∂s = −∂f/∂a (the hinge: f depends on a − s) this is
    M − Y ⊙ Σₖ Mₖ with M = ∂f/∂a, as CS231n writes it; with the output factor (1/m of scale dZ)."""
    loss, L = net.loss_entry, net.L
    if loss is None:
        raise InternalError("a coupled loss gradient was asked for a generic loss")
    A, Y = sym("A", L), sym("Y")
    units = net.layout.unit_sum_axis
    S = E.Sum(E.Hadamard(Y, A), units)  # each example's s = Σₖ yₖ aₖ (a_y for one-hot Y)
    params = (rules.a, rules.y, rules.s)
    # folded: (1 − y) [c], one indicator with its factor, printed v ⊙ [c] (numpy: v * (c))
    fa = sp.piecewise_fold(loss.per_unit_at(loss.gradient, dim_symbol(L)))
    fs = sp.piecewise_fold(loss.per_unit_at(loss.gradient_s, dim_symbol(L)))
    M = E.Pointwise(fa, params, (A, Y, S), broadcast=True)
    if sp.simplify(sp.piecewise_fold(fa + fs)) == 0:
        out: E.Expr = E.Sub(M, E.Hadamard(Y, E.Sum(M, units), broadcast=True))
        how = f"∂f/∂s = −∂f/∂a, so dA = M − Y ⊙ sum(M, axis={units}) with M = ∂f/∂a"
    else:
        Ms = E.Pointwise(fs, params, (A, Y, S), broadcast=True)
        out = E.Add(M, E.Hadamard(Y, E.Sum(Ms, units), broadcast=True))
        how = f"dA = ∂f/∂a + Y ⊙ sum(∂f/∂s, axis={units})"
    if net.output_factor != 1:
        out = E.Scale(net.output_factor, out)
    note = (f"ℓ = {loss.text} = Σₖ f(aₖ, yₖ, s) with s = Σₖ yₖ aₖ = sum(Y ⊙ A[{L}], axis={units}) "
            f"and f = {sp.sstr(loss.per_unit)}; SymPy: ∂f/∂a = {sp.sstr(loss.gradient, order='none')}, "
            f"∂f/∂s = {sp.sstr(loss.gradient_s, order='none')}; {how}")
    if loss.kink:
        note = f"{note}; kink: {loss.kink}"
    return out, note


def entrywise(expr: sp.Expr, params: tuple[sp.Symbol, ...], args: tuple[E.Expr, ...],
              factor: sp.Expr = sp.S.One) -> E.Expr:
    """``factor`` times ``expr`` applied entry by entry to ``args``; a coefficient of ``expr``
    that is not a whole number (2/n[L] of mse_units, 2/3 at n[L] = 3) stands in front, as a
    person writes it: (2/n2) (A[2] − Y), not 2 (A[2] − Y) ⊘ n2; ``factor`` outside it."""
    coeff, rest = expr.as_independent(*params, as_Add=False)
    if coeff.is_Integer or rest == 1:
        coeff, rest = sp.Integer(1), expr
    else:
        rest = rules.tidy(rest)
    out: E.Expr = E.Pointwise(rest, params, args)
    for c in (coeff, factor):  # (1/m) (2/n2) (A[2] − Y): the mean's factor outside the loss's
        out = out if c == 1 else E.Scale(c, out)
    return out


def terms(net: Network, sym: SymFn) -> E.Expr:
    """The per-unit terms ℓₖ of every example as an expression over A[L] and Y (J is their sum,
    times the cost's scale), n bound to n[L]: how a worked example computes J."""
    loss = net.loss_entry
    if loss is None:
        raise InternalError("the per-unit terms of a generic loss were asked for")
    per = loss.per_unit_at(loss.per_unit, dim_symbol(net.L))
    A, Y = sym("A", net.L), sym("Y")
    if loss.coupled:
        S = E.Sum(E.Hadamard(Y, A), net.layout.unit_sum_axis)
        return E.Pointwise(per, (rules.a, rules.y, rules.s), (A, Y, S), broadcast=True)
    return entrywise(per, (rules.a, rules.y), (A, Y))


def _factor(net: Network) -> str:
    """The loss problem's factor in words: ``(1/m) `` for scale dZ, else nothing."""
    return "" if net.output_factor == 1 else f"({sp.sstr(net.output_factor)}) "


def output_local(net: Network, L: int, activation: tuple[Definition, ...],
                 act: rules.Activation | None) -> Local:
    """The output layer's dZ[L] is proven against the loss through the activation."""
    if net.loss is None:
        raise InternalError("the output layer's dZ was fused with a loss, but the network has none")
    g_name = act.name if act is not None else f"g{L}"
    return Local(("Z", L), activation, ("A", L), (), f"{_factor(net)}Σ ℓ({g_name}(Z[{L}]), Y) with ℓ = {net.loss}",
                 loss=True, generic=False)


def fuse_output(net: Network, act: rules.Activation | None, loss: rules.Loss,
                sym: SymFn) -> tuple[E.Expr, str] | None:
    """Try to simplify dZ[L] from ∂ℓ/∂a and the activation; None when nothing simpler comes out.
    The result carries the network's output factor (1/m for scale dZ)."""
    a, y, z = rules.a, rules.y, rules.z
    L = net.L
    dl = loss.per_unit_at(loss.gradient, dim_symbol(L))
    if act is None:
        return None
    if loss.coupled:  # through a linear output dZ[L] = dA[L]; otherwise the general chain rule
        if not act.elementwise or act.derivative != 1:
            return None
        expr, _ = coupled_gradient(net, sym)
        return expr, f"{act.text}′ = 1, so dZ[{L}] = dA[{L}], with A[{L}] = Z[{L}]"
    args = (sym("A", L), sym("Y"))
    if act.elementwise:
        gprime = act.derivative
        if z in gprime.free_symbols:
            return None  # the derivative is not a function of a alone (relu, gelu, ...)
        fused = rules.tidy(sp.factor(sp.cancel(dl * gprime)))
        core = [e.as_independent(a, y, as_Add=False)[1] for e in (fused, dl)]  # without 2/n[L]
        if sp.count_ops(core[0]) >= sp.count_ops(core[1]) + sp.count_ops(gprime) + 1:
            return None
        note = (
            f"∂ℓ/∂a · {act.text}′ = ({sp.sstr(dl)}) · ({sp.sstr(gprime)}) "
            f"= {sp.sstr(fused, order='none')} (SymPy cancel)"
        )
        return entrywise(fused, (a, y), args, net.output_factor), note
    # softmax: dzⱼ = aⱼ (∂ℓ/∂aⱼ − Σₖ aₖ ∂ℓ/∂aₖ); fusable when aₖ ∂ℓ/∂aₖ = c yₖ and Σₖ yₖ = 1
    weighted = sp.cancel(a * dl)
    c = sp.cancel(weighted / y)
    if weighted.free_symbols != {y} or c.free_symbols or not loss.assumes:
        return None
    fused = rules.tidy(sp.factor(sp.cancel(a * (dl - c))))
    note = (
        f"aₖ ∂ℓ/∂aₖ = {sp.sstr(weighted)}, so Σₖ aₖ ∂ℓ/∂aₖ = {sp.sstr(c)} because "
        f"{loss.assumes}; then aⱼ(∂ℓ/∂aⱼ − ({sp.sstr(c)})) = {sp.sstr(fused, order='none')}"
    )
    return entrywise(fused, (a, y), args, net.output_factor), note
