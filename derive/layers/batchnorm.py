"""Batch normalisation in training mode on a dense layer (Ioffe & Szegedy, 2015), as the Deep
Learning Specialization writes it: Z[l] = W[l] A[l-1] (no b: β takes its place), the batch
statistics μ[l] = (1/m) Σ Z[l] and σ²[l] = (1/m) Σ (Z[l] − μ[l])² over the m examples,
Z_norm[l] = (Z[l] − μ[l]) / √(σ²[l] + ε), Z̃[l] = γ[l] ⊙ Z_norm[l] + β[l], A[l] = g[l](Z̃[l]).

The backward rule goes through the computational graph one node at a time (dZ̃, dγ, dβ, dZ_norm,
dσ², dμ, dZ) and then gives the compact form students are asked for,
dZ = (1/m) γ/√(σ² + ε) ⊙ (m dZ̃ − Σ dZ̃ − Z_norm ⊙ Σ(dZ̃ ⊙ Z_norm)); each is a formula with its own
local problem, so :mod:`derive.engine.proof` proves every one. The batch statistics couple the
examples: the surrogate of each proof is a function of the whole batch, never of one column.

**What dZ[l] means here.** Under scale mean, dZ̃[l] still stacks per-example gradients, but
dZ[l] = ∂(Σₜ ℓₜ)/∂Z[l]: its column t carries every example's loss through μ[l] and σ²[l], not
example t's alone (and so do dA[l-1] and everything below). It is still m ∂J/∂Z[l], so
dW[l] = (1/m) dZ[l] A[l-1]ᵀ holds as for a dense layer. Under scale dZ (CS231n's) it is ∂J/∂Z[l].

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> d = derive(Network(layers=[2, 3, 1], activations=["relu", "sigmoid"], loss="bce",
...                    batchnorm=[1]), prove=False)
>>> print(d.formula("dgamma", 1))
dγ[1] = (1/m) sum(dZ̃[1] ⊙ Z_norm[1], axis=1)
>>> print(d.formula("dZ", 1))
dZ[1] = (1/m) (γ[1] ⊘ sqrt(σ²[1] + ε) ⊙ (m dZ̃[1] − sum(dZ̃[1], axis=1) − Z_norm[1] ⊙ sum(dZ̃[1] ⊙ Z_norm[1], axis=1)))
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sympy as sp

from derive.core import expr as E
from derive.core.names import EPS
from derive.core.names import m as M
from derive.layers import dropout
from derive.layers.base import Definition, Key, Local, SymFn, Upstream, Walk
from derive.layers.dense import Dense, affine, pre_activation

if TYPE_CHECKING:
    import numpy as np

    from derive.network.spec import Network

_z, _u, _v, _e, _g = sp.symbols("z u v w g", real=True)  # v before w: "σ² + ε" in that order


@functools.cache
def _half_cube() -> sp.Expr:
    """−1/(2 (σ² + ε) √(σ² + ε)), written unevaluated so it prints so (SymPy would make it a 3/2
    power); built on first use: SymPy's first sqrt of a sum imports sympy.tensor (~20 ms)."""
    return sp.Mul(-1, sp.Pow(sp.Mul(2, _v + _e, sp.sqrt(_v + _e), evaluate=False), -1,
                             evaluate=False), evaluate=False)


STATISTICS = ("mu", "var")  # per unit, shaped like a bias: n[l]×1 (columns) or 1×n[l] (rows)


def _std(var: E.Expr) -> E.Expr:
    """√(σ² + ε), one per unit."""
    return E.Pointwise(sp.sqrt(_v + _e), (_v, _e), (var, E.Scalar(EPS)), broadcast=True)


class BatchNorm(Dense):
    """A dense layer with batch normalisation (training mode) before its activation."""

    kind = "batchnorm"
    title = ("dense layer with batch normalisation (training mode): Z = W A (no b), Z_norm = "
             "(Z − μ)/√(σ² + ε) over the examples, Z̃ = γ ⊙ Z_norm + β, A = g(Z̃)")
    parameters = ("W", "gamma", "beta")
    constants = ("D",)  # a hidden layer's dropout mask after the activation, where it has one
    values = ("Z", "mu", "var", "Znorm", "Ztilde", "G", "A")  # G = g(Z̃) before the mask
    cites = ("batchnorm_activation", "softmax_chain", "output_simplification", "substitution",
             "dropout_mask", "batchnorm_gamma", "batchnorm_beta", "batchnorm_normalised",
             "batchnorm_variance", "batchnorm_mean", "batchnorm_graph", "batchnorm_compact",
             "weight_gradient", "input_gradient", "frobenius_gradient")

    def shape(self, net: Network, base: str, l: int) -> tuple[sp.Expr, sp.Expr]:
        if base in ("gamma", "beta", *STATISTICS):
            return net.layout.bias(net.dim(l), sp.Integer(1))
        if base == "W":
            return net.layout.weight(net.dim(l), net.dim(l - 1))
        if base in self.values or base in self.constants:
            return net.layout.batch(net.dim(l), M)
        raise KeyError(f"layer {l} ({self.kind}) has no {base}")

    def has(self, net: Network, base: str, l: int) -> bool:
        if base in dropout.QUANTITIES:
            return net.dropout(l) is not None
        return base in self.quantities()

    def forward(self, net: Network, l: int, sym: SymFn) -> tuple[Definition, ...]:
        ax = net.layout.example_sum_axis
        Z, mu, var, Zn, Zt = (sym(b, l) for b in ("Z", "mu", "var", "Znorm", "Ztilde"))
        centred = E.Pointwise((_z - _u) ** 2, (_z, _u), (Z, mu), broadcast=True)
        normalised = E.Pointwise((_z - _u) / sp.sqrt(_v + _e), (_z, _u, _v, _e),
                                 (Z, mu, var, E.Scalar(EPS)), broadcast=True)
        return (
            (Z, pre_activation(net.layout, sym("W", l), sym("A", l - 1), None)),
            (mu, E.Scale(1 / M, E.Sum(Z, ax))),
            (var, E.Scale(1 / M, E.Sum(centred, ax))),
            (Zn, normalised),
            (Zt, E.Add(E.Hadamard(sym("gamma", l), Zn, broadcast=True), sym("beta", l),
                       broadcast=True)),
            *self._activation(net, l, sym, Zt),
        )

    @staticmethod
    def _activation(net: Network, l: int, sym: SymFn, Zt: E.Expr) -> tuple[Definition, ...]:
        """A[l] = g(Z̃[l]), or with dropout G[l] = g(Z̃[l]), A[l] = G[l] ⊙ D[l] / keep_prob (the
        mask after the activation of the normalised layer, held fixed)."""
        g = E.Act(net.activation(l), l, Zt)
        if net.dropout(l) is None:
            return ((sym("A", l), g),)
        G = sym("G", l)
        return ((G, g), (sym("A", l), dropout.masked(net, l, G, sym("D", l))))

    def init(self, net: Network, l: int, rng: np.random.Generator, sizes: Sequence[int],
             A_prev: np.ndarray, margin: float) -> dict[Key, np.ndarray]:
        """W ~ N(0, 1/n[l-1]), γ ~ U(0.5, 1.5), β ~ N(0, 0.3²); a unit whose Z̃ comes within
        ``margin`` of a kink of the activation draws its β again."""
        import numpy as np
        layout, n_out, n_in = net.layout, sizes[l], sizes[l - 1]
        W = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=layout.weight(n_out, n_in))
        gamma = rng.uniform(0.5, 1.5, size=layout.bias(n_out, 1))
        beta = rng.normal(0.0, 0.3, size=layout.bias(n_out, 1))
        act = net.activation(l)
        kinks = [float(k) for k in act.kinks] if act is not None else []
        ax = layout.example_sum_axis
        Z = affine(layout, W, A_prev)
        Zn = (Z - Z.mean(axis=ax, keepdims=True)) / np.sqrt(Z.var(axis=ax, keepdims=True) + 1e-5)
        for _ in range(200):
            Zt = gamma * Zn + beta
            near = np.zeros(np.shape(beta), dtype=bool)
            for k in kinks:
                near |= np.any(np.abs(Zt - k) < margin, axis=ax, keepdims=True)
            if not near.any():
                drawn: dict[Key, np.ndarray] = {("W", l): W, ("gamma", l): gamma, ("beta", l): beta}
                if net.dropout(l) is not None:  # the mask, drawn from the same generator
                    drawn["D", l] = dropout.draw_mask(net, l, rng, np.shape(Z))
                return drawn
            beta[near] = rng.normal(0.0, 0.3, size=int(near.sum()))
        raise RuntimeError(f"layer {l}: could not draw units away from the activation's kinks")

    # -- backward: dZ̃, dγ, dβ, then dZ through the batch statistics -------------------------
    def backward(self, walk: Walk, l: int, upstream: Upstream | None) -> Upstream | None:
        net, layout = walk.net, walk.net.layout
        ax, s = layout.example_sum_axis, walk.scale
        defs = self.forward(net, l, walk.sym)
        z_def, mu_def, var_def, zn_def, zt_def = defs[:5]
        self.activation_backward(walk, l, upstream, defs[5:], "Ztilde")
        sym = walk.sym
        Z, mu, var, Zn, gamma = (sym(b, l) for b in ("Z", "mu", "var", "Znorm", "gamma"))
        dZt, dZn, dvar, dmu = (sym(b, l) for b in ("dZtilde", "dZnorm", "dvar", "dmu"))
        keys = {b: (b, l) for b in ("Z", "mu", "gamma", "beta", "Znorm")}
        mean = net.scale_rule.weight_note

        def emit(target: str, expr: E.Expr, rule: str, note: str, local: Local,
                 shown: E.Expr | None = None) -> None:
            walk.step(l, sym(target, l), expr if shown is None else shown, rule, (), note)
            walk.emit(l, target, expr, local)

        def scaled(e: E.Expr) -> E.Expr:
            return e if s == 1 else E.Scale(s, e)

        # γ and β: J̃ = s Σ dZ̃ ⊙ (γ ⊙ Z_norm + β)
        zt_text = f"Σ dZ̃[{l}] ⊙ (γ[{l}] ⊙ Z_norm[{l}] + β[{l}])"
        zt_text = zt_text if s == 1 else f"(1/m) {zt_text}"
        emit("dgamma", scaled(E.Sum(E.Hadamard(dZt, Zn), ax)), "batchnorm_gamma", mean,
             Local(keys["gamma"], (zt_def,), ("Ztilde", l), (keys["beta"], keys["Znorm"]), zt_text,
                   scaled=True))
        emit("dbeta", scaled(E.Sum(dZt, ax)), "batchnorm_beta", mean,
             Local(keys["beta"], (zt_def,), ("Ztilde", l), (keys["gamma"], keys["Znorm"]), zt_text,
                   scaled=True))
        # the graph, one node at a time: Z_norm, σ², μ, then Z through all three
        zn_expr = E.Hadamard(dZt, gamma, broadcast=True)
        emit("dZnorm", zn_expr, "batchnorm_normalised", "γ[l] broadcast over the examples",
             Local(keys["Znorm"], (zt_def,), ("Ztilde", l), (keys["gamma"], keys["beta"]),
                   f"Σ dZ̃[{l}] ⊙ (γ[{l}] ⊙ Z_norm[{l}] + β[{l}])"))
        centred = E.Sub(Z, mu, broadcast=True)
        half = E.Pointwise(_half_cube(), (_v, _e), (var, E.Scalar(EPS)), broadcast=True)
        dvar_expr = E.Hadamard(E.Sum(E.Hadamard(dZn, centred), ax), half)
        zn_text = f"Σ dZ_norm[{l}] ⊙ (Z[{l}] − μ[{l}])/√(σ²[{l}] + ε)"
        emit("dvar", dvar_expr, "batchnorm_variance", "one per unit: a sum over the examples",
             Local(("var", l), (zn_def,), ("Znorm", l), (keys["Z"], keys["mu"]), zn_text))
        mean_path = E.Scale(-2 / M, E.Sum(centred, ax))

        def dmu_of(dvar_value: E.Expr) -> E.Expr:
            return E.Add(E.Scale(-1, E.Sum(E.Div(dZn, _std(var), broadcast=True), ax)),
                         E.Hadamard(dvar_value, mean_path))

        emit("dmu", dmu_of(dvar_expr), "batchnorm_mean",
             f"dσ²[{l}] substituted (the proof differentiates through σ²[{l}] as a function of "
             f"μ[{l}]); its second term is 0 at the batch's own mean, kept as the graph has it",
             Local(keys["mu"], (var_def, zn_def), ("Znorm", l), (keys["Z"],),
                   f"{zn_text} with σ²[{l}] = (1/m) Σ (Z[{l}] − μ[{l}])²"), shown=dmu_of(dvar))

        def graph(dvar_value: E.Expr, dmu_value: E.Expr) -> E.Expr:
            spread = E.Hadamard(dvar_value, E.Scale(2 / M, centred), broadcast=True)
            direct = E.Div(dZn, _std(var), broadcast=True)
            return E.Add(E.Add(direct, spread), E.Scale(1 / M, dmu_value), broadcast=True)

        meaning = self.meaning(net, l)
        emit("dZ", graph(dvar_expr, dmu_of(dvar_expr)), "batchnorm_graph",
             f"dσ²[{l}] and dμ[{l}] substituted; {meaning}",
             Local(keys["Z"], (mu_def, var_def, zn_def), ("Znorm", l), (),
                   f"{zn_text} with μ[{l}], σ²[{l}] the batch statistics of Z[{l}]"),
             shown=graph(dvar, dmu))
        # the compact form, in dZ̃: what the layer below and dW read
        scale_g = E.Div(gamma, _std(var))
        inner = E.Sub(E.Sub(E.Scale(M, dZt), E.Sum(dZt, ax), broadcast=True),
                      E.Hadamard(Zn, E.Sum(E.Hadamard(dZt, Zn), ax), broadcast=True))
        compact = E.Scale(1 / M, E.Hadamard(scale_g, inner, broadcast=True))
        emit("dZ", compact, "batchnorm_compact",
             f"dZ_norm[{l}] = dZ̃[{l}] ⊙ γ[{l}], dσ²[{l}], dμ[{l}] substituted and Σ (Z[{l}] − μ[{l}]) = 0; "
             f"{meaning}",
             Local(keys["Z"], (mu_def, var_def, zn_def, zt_def), ("Ztilde", l),
                   (keys["gamma"], keys["beta"]),
                   f"{zt_text.removeprefix('(1/m) ')} through μ[{l}], σ²[{l}] and Z_norm[{l}]"))
        return self.affine_backward(
            walk, l, (z_def,), bias=False,
            up_note=f"no 1/m here; like dZ[{l}], not a per-example gradient (batch norm couples "
                    "the examples)")

    def statement(self, net: Network, l: int) -> str:
        return (f"batch norm on layer {l} (training mode): μ[{l}], σ²[{l}] over the m examples of "
                f"the batch, ε a small constant (numbers: 1e-5), b[{l}] dropped (β[{l}] shifts); "
                + self.meaning(net, l) + "; so are dA and dZ of every layer below it")

    @staticmethod
    def meaning(net: Network, l: int) -> str:
        """What dZ[l] is under batch normalisation, in words (the derivation's notes print it)."""
        if net.per_example_dZ:
            what = f"∂(Σₜ ℓₜ)/∂Z[{l}] = m ∂J/∂Z[{l}]"
        else:
            what = f"∂J/∂Z[{l}]"
        return (f"dZ[{l}] = {what}, not a per-example gradient: through μ[{l}] and σ²[{l}] its "
                "column for one example carries every example's loss")
