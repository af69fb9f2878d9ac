"""Where the scalar chain rule breaks for matrices, and what the activation step really is.

:func:`naive_chain_rule` takes a student's ordering (the built-in one is the ordering
students write, ``dZ[1] = dZ[2] W[2]ᵀ ⊙ g[1]′(Z[1])``: "multiply the derivatives in order") and tries it on the
same small sizes as the Jacobian: with symbolic sizes the product dZ[2] W[2]ᵀ is (n2×m)·(n1×n2) and
fails; with every size 2 it type-checks (the trap), so both formulas are evaluated on a random
instance and the entries that differ are listed, next to the engine's formula and a central
finite-difference check of it.

:func:`activation_step` shows ∂A/∂Z for an element-wise g (diagonal: the chain rule becomes
⊙ g′(Z)) next to softmax (a full per-example Jacobian diag(a) − a aᵀ, block diagonal across
examples).

>>> from derive.network.spec import Network
>>> r = naive_chain_rule(Network(depth=2))
>>> r.verdict, r.general_error is not None, len(r.differing) > 0
('fits_only_here', True, True)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from derive.core import expr as E
from derive.core import fd
from derive.core.expr import NumpyBackend, as_sympy, evaluate
from derive.core.printing import to_text
from derive.engine.backward import Derivation, Formula, derive
from derive.engine.values import bind_m, gradient_values
from derive.errors import ParseError, ProofFailure, ShapeMismatch, SpecError
from derive.jacobian.entries import (
    bmatrix_numbers,
    entry_latex,
    entry_text,
    matrix_text,
    num,
    tex_escape,
)
from derive.jacobian.quantities import fmt_shape, resolve_sizes, sizes_of
from derive.jacobian.render import JacobianResult, array_latex, array_text, zeros_text
from derive.jacobian.tensor import jacobian
from derive.network import model
from derive.network.spec import Network, dim_symbol
from derive.network.spec import m as m_symbol
from derive.network.symbols import SymbolTable
from derive.parse import parse_expression

BUILTINS = ("dZ", "dW")
ALIASES = {"seed": "dZ"}  # the name the CLI used for dZ before; still accepted
_TARGET = re.compile(r"\s*d(?P<base>[WbZA])\s*(?:(?P<a>\d{1,4})|\[(?P<b>\d{1,4})\]|"
                     r"\^\{\[(?P<c>\d{1,4})\]\}|\^\[(?P<d>\d{1,4})\]|_\{?(?P<e>\d{1,4})\}?)\s*")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class NaiveResult:
    """The ordering tried on concrete sizes: shape errors, numbers, the engine's formula."""

    target: str  # e.g. "dZ[1]"
    written: str  # the formula as given (or the built-in, printed)
    general_error: str | None  # ShapeMismatch with symbolic sizes n0, n1, …, m
    concrete_error: str | None  # ShapeMismatch (or wrong result shape) at the concrete sizes
    sizes: tuple[int, ...]
    m: int
    correct: Formula  # the engine's
    student_value: np.ndarray | None
    correct_value: np.ndarray | None
    differing: tuple[tuple[int, int, float, float], ...]  # 1-based (i, j), student, correct
    fd_error: float | None  # the engine's formula against central differences of J
    verdict: str  # "shape_error" | "fits_only_here" | "wrong_numbers" | "agrees"
    seed: int = 0

    def to_text(self) -> str:
        return naive_text(self)

    def to_latex(self) -> str:
        return naive_latex(self)

    def to_dict(self) -> dict[str, Any]:
        def arr(v: np.ndarray | None) -> list[Any] | None:
            return None if v is None else np.round(v, 12).tolist()

        return {
            "target": self.target, "formula": self.written, "verdict": self.verdict,
            "general_shape_error": self.general_error, "concrete_shape_error": self.concrete_error,
            "sizes": list(self.sizes), "m": self.m, "seed": self.seed,
            "correct": self.correct.text, "correct_latex": self.correct.latex,
            "student_value": arr(self.student_value), "correct_value": arr(self.correct_value),
            "differing": [{"i": i, "j": j, "student": s, "correct": c}
                          for i, j, s, c in self.differing],
            "fd_relative_error": self.fd_error,
        }


Table = Callable[..., E.Sym]  # (base, layer=None) → the symbol
Builder = Callable[[Table], E.Expr]


def _table(net: Network, m: int | None) -> Table:
    """Sym lookup with the network's shapes; ``m`` given: every size concrete."""
    T = SymbolTable(net)

    def get(base: str, layer: int | None = None) -> E.Sym:
        s = T[base, layer]
        if m is None:
            return s
        return E.Sym(s.base, s.layer, tuple(sp.Integer(as_sympy(d).subs(m_symbol, m))
                                            for d in s.shape))
    return get


def builtin(name: str, net: Network) -> tuple[str, int, Builder]:
    """(target kind, layer, builder) of a built-in naive ordering: ``dZ`` is the ordering
    students write, dZ[l] = dZ[l+1] W[l+1]ᵀ ⊙ g[l]′(Z[l]) (l = L−1); ``dW`` is
    dW[l] = (1/m) dZ[l] A[l-1] (∂Z/∂W taken as A, the scalar rule's guess; rows: (1/m) A[l-1]
    dZ[l]). ``seed`` is an old name of ``dZ``."""
    name = ALIASES.get(name, name)
    if name == "dZ":
        if net.L < 2:
            raise SpecError("the built-in dZ example dZ[1] = dZ[2] W[2]ᵀ ⊙ g[1]′(Z[1]) needs two "
                            "layers (--layers n0,n1,n2)")
        l_ = net.L - 1

        def build(T: Table) -> E.Expr:
            return E.Hadamard(E.MatMul(T("dZ", l_ + 1), E.Transpose(T("W", l_ + 1))),
                              E.Deriv(net.activation(l_), l_, T("Z", l_)))
        return "dZ", l_, build
    if name == "dW":
        l_ = net.L

        def build_dW(T: Table) -> E.Expr:
            prev = T("X") if l_ == 1 else T("A", l_ - 1)
            prod = E.MatMul(*net.layout.ordered(T("dZ", l_), prev))
            return E.Scale(net.weight_factor, prod) if net.weight_factor != 1 else prod
        return "dW", l_, build_dW
    raise SpecError(f"unknown built-in example {name!r}; known: {', '.join(BUILTINS)}")


def _split(text: str, net: Network) -> tuple[str, int, str]:
    if len(text) > 2000:
        raise ParseError("the formula is too long (at most 2000 characters)", 2000, text[:80])
    if "=" not in text:
        raise ParseError("write the formula as TARGET = EXPRESSION, e.g. "
                         "dZ1 = dZ2 W2.T * g1'(Z1)", 0, text)
    lhs, rhs = text.split("=", 1)
    hit = _TARGET.fullmatch(lhs)
    if hit is None:
        raise ParseError("the left side must name a gradient: dZ1, dW[2], dA^{[1]}, db_1", 0, text)
    layer = int(next(v for k, v in hit.groupdict().items() if k != "base" and v is not None))
    kind = "d" + hit["base"]
    lo = 0 if kind == "dA" else 1
    if not lo <= layer <= net.L:
        raise SpecError(f"{lhs.strip()}: this network has layers 1 to {net.L}")
    return kind, layer, rhs


def _concrete(e: E.Expr, subs: dict[sp.Symbol, int]) -> E.Expr:
    """The same tree with every symbolic size replaced (shapes re-checked on rebuilding)."""
    overrides = {}
    if isinstance(e, E.Sym | E.Ones):
        overrides["shape"] = tuple(as_sympy(d).subs(subs) for d in e.shape)
    if isinstance(e, E.Scale):
        overrides["factor"] = as_sympy(e.factor).subs(subs)
    return E.map_children(e, lambda c: _concrete(c, subs), **overrides)


def naive_chain_rule(net: Network, formula: str | None = None,
                     sizes: Mapping[str, int] | None = None, seed: int = 0,
                     example: str = "dZ") -> NaiveResult:
    """Try a student's ordering (``formula`` as ``"dZ1 = ..."``, read by derive.parse; default the
    built-in ``example``) with symbolic sizes and with the concrete ones; when it fits, compare its
    numbers with the engine's formula on a random instance."""
    net.require_no_l2("derive jacobian's chain-rule orderings")
    net.require_no_dropout("derive jacobian")
    cnet, m = resolve_sizes(net, sizes)
    sym_net = cnet.replace(layers=(None,) * (cnet.L + 1))
    concrete_sizes = sizes_of(cnet)
    subs = {dim_symbol(l): n for l, n in enumerate(concrete_sizes)}
    subs[m_symbol] = m
    general: str | None = None
    concrete: str | None = None
    expr: E.Expr | None = None
    if formula is None:
        kind, layer, build = builtin(example, cnet)
        try:
            written = f"{kind}[{layer}] = {to_text(build(_table(sym_net, None)))}"
        except ShapeMismatch as exc:
            general = str(exc)
            written = ""
        try:
            expr = build(_table(cnet, m))
        except ShapeMismatch as exc:
            concrete = str(exc)
        if not written:
            written = _builtin_text(example, cnet, layer)
    else:
        kind, layer, rhs = _split(formula, cnet)
        written = formula.strip()
        try:
            tree = parse_expression(rhs, sym_net, syntax="auto")
        except ShapeMismatch as exc:
            general = str(exc)
            concrete = "not evaluated: the formula is rejected before any sizes are chosen"
        else:
            try:
                expr = _concrete(tree, subs)
            except ShapeMismatch as exc:
                concrete = str(exc)
    d = derive(cnet, prove=False)
    correct = d.get(kind, layer)
    if correct is None:
        raise SpecError(f"the engine derives no {kind}[{layer}] for this network")
    want = tuple(int(as_sympy(x).subs(subs)) for x in correct.shape)
    if expr is not None and tuple(int(x) for x in expr.shape) != want:
        concrete = (f"the result is {fmt_shape(expr.shape)} but {correct.name} is {fmt_shape(want)}")
        expr = None
    student_v: np.ndarray | None = None
    correct_v: np.ndarray | None = None
    differing: list[tuple[int, int, float, float]] = []
    fd_err: float | None = None
    if expr is not None:
        student_v, correct_v, fd_err = _numbers(cnet, d, correct, expr, m, seed)
        for (i, j), s in np.ndenumerate(student_v):
            c = correct_v[i, j]
            if abs(s - c) > TOLERANCE * (1 + abs(c)):
                differing.append((i + 1, j + 1, float(s), float(c)))
    if expr is None:
        verdict = "shape_error"
    elif differing:
        verdict = "fits_only_here" if general else "wrong_numbers"
    else:
        verdict = "agrees"
    return NaiveResult(f"{kind}[{layer}]" if not (kind == "dA" and layer == 0) else "dX",
                       written, general, concrete, concrete_sizes, m, correct, student_v,
                       correct_v, tuple(differing), fd_err, verdict, seed)


def _builtin_text(example: str, net: Network, layer: int) -> str:
    act = net.activation(layer)
    g = f"g[{layer}]" if act is None else act.text
    if ALIASES.get(example, example) == "dZ":
        return f"dZ[{layer}] = dZ[{layer + 1}] W[{layer + 1}]ᵀ ⊙ {g}′(Z[{layer}])"
    prev = "X" if layer == 1 else f"A[{layer - 1}]"
    scale = "(1/m) " if net.per_example_dZ else ""
    return f"dW[{layer}] = {scale}" + " ".join(net.layout.ordered(f"dZ[{layer}]", prev))


def _numbers(net: Network, d: Derivation, correct: Formula, expr: E.Expr, m: int,
             seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    inst = model.random_instance(net, seed=seed, m=m, sizes=net.layers)
    env = gradient_values(d, inst)
    student = np.asarray(evaluate(bind_m(expr, m, inst.sizes), env, NumpyBackend(model.standins(net))),
                         dtype=float)
    kind, layer = correct.kind, correct.layer
    right = np.asarray(env[kind, layer], dtype=float)
    scale = 1.0 / m if net.per_example_dZ else 1.0  # ∂J/∂V = scale · dV
    params = inst.params

    def cost(cache: dict) -> np.ndarray:
        return model.cost(net, cache, inst.Y)

    if kind in ("dW", "db"):
        key = (kind[1], layer)

        def J_param(P: np.ndarray) -> np.ndarray:
            return cost(model.forward(net, {**params, key: P}, inst.X))
        fd_err = fd.relative_error(fd.central_differences(J_param, params[key]), right)
    else:
        base = kind[1]

        def J_value(V: np.ndarray) -> np.ndarray:
            return cost(model.forward(net, params, inst.X, start=layer, start_value=(base, V)))
        fd_err = fd.relative_error(fd.central_differences(J_value, env[base, layer]), scale * right)
    return student, right, fd_err


# -- the activation step -----------------------------------------------------------------------
@dataclass(frozen=True)
class ActivationStep:
    """∂A[l]/∂Z[l] for an element-wise g next to softmax, on the same Z."""

    layer: int
    elementwise: JacobianResult
    softmax: JacobianResult | None  # None when the layer has one unit
    block: sp.Matrix | None  # one example's softmax block, diag(a) − a aᵀ, in A's entries
    note: str

    def to_text(self) -> str:
        return activation_text(self)

    def to_latex(self) -> str:
        return activation_latex(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "elementwise": self.elementwise.to_dict(),
            "softmax": None if self.softmax is None else self.softmax.to_dict(),
            "softmax_block": None if self.block is None else
            [[sp.sstr(x) for x in row] for row in self.block.tolist()],
            "note": self.note,
        }


def activation_step(net: Network, layer: int = 1,
                    sizes: Mapping[str, int] | None = None) -> ActivationStep:
    """Both Jacobians of layer ``layer``'s activation step. The element-wise side uses the layer's
    own g (a generic g[l] when the layer is softmax); the softmax side replaces the layer's g."""
    cnet, m = resolve_sizes(net, sizes)
    if not 1 <= layer <= cnet.L:
        raise SpecError(f"layer {layer}: this network has layers 1 to {cnet.L}")
    acts: list[str | None] = list(cnet.activations or ())
    own = cnet.activation(layer)
    note = ""
    if own is not None and not own.elementwise:
        acts[layer - 1] = None
        note = f"layer {layer} is softmax; the element-wise side uses a generic g[{layer}]"
    el_net = cnet.replace(activations=tuple(acts), loss=None)
    elem = jacobian(f"A{layer}", f"Z{layer}", el_net, {"m": m})
    soft = block = None
    n = sizes_of(cnet)[layer]
    if n >= 2:
        acts[layer - 1] = "softmax"
        sm_net = cnet.replace(activations=tuple(acts), loss=None)
        soft = jacobian(f"A{layer}", f"Z{layer}", sm_net, {"m": m})
        if soft.rule is None:  # the closed form δ·a(δ − a) must match every SymPy entry
            raise ProofFailure(f"softmax Jacobian of layer {layer} does not match diag(a) − a aᵀ")
        # one example's units: A[l]ᵢ₀ (columns) or A[l]₀ᵢ (rows)
        a = [sp.Symbol(f"A{layer}_" + "_".join(map(str, cnet.layout.batch(i, 0))), real=True)
             for i in range(n)]
        block = sp.Matrix(n, n, lambda i, k: a[i] * ((1 if i == k else 0) - a[k]))
    else:
        note = (note + "; " if note else "") + f"layer {layer} has one unit: no softmax to compare"
    return ActivationStep(layer, elem, soft, block, note)


# -- text and LaTeX ------------------------------------------------------------------------------
_VERDICT = {
    "shape_error": "the shapes do not multiply",
    "fits_only_here": "it type-checks only because the sizes happen to be equal, and the numbers "
                      "come out wrong — the trap",
    "wrong_numbers": "the shapes fit, but the numbers come out different",
    "agrees": "it agrees with the engine's formula here",
}


def naive_text(r: NaiveResult) -> str:
    sizes = ",".join(str(s) for s in r.sizes)
    lines = [f"The naive scalar chain rule: {r.written}", "",
             "With symbolic sizes (n0, n1, …, m): "
             + (f"✗ {r.general_error}" if r.general_error else "the shapes fit")]
    lines.append(f"With sizes {sizes} and m = {r.m}: "
                 + (f"✗ {r.concrete_error}" if r.concrete_error else "the shapes fit"))
    if r.student_value is not None and r.correct_value is not None:
        mark = frozenset((i, j) for i, j, _, _ in r.differing)
        lines.append(f"Numbers on a random instance (seed {r.seed}); * marks a differing entry:")
        left = ["student:"] + matrix_text(r.student_value, mark)
        right = [f"engine: {r.correct.text}"] + matrix_text(r.correct_value)
        w = max(len(s) for s in left) + 4
        lines += ["  " + a.ljust(w) + b for a, b in zip(left, right, strict=True)]
        for i, j, s, c in r.differing:
            lines.append(f"  {r.target} entry ({i}, {j}): student {num(s)}, correct {num(c)}")
        lines.append(f"  the engine's {r.correct.name} matches central differences of J "
                     f"(relative error {r.fd_error:.1e})")
    lines.append(f"Verdict: {_VERDICT[r.verdict]}. The correct formula: {r.correct.text}")
    return "\n".join(lines)


def naive_latex(r: NaiveResult, level: str = "subsection") -> str:
    parts = [rf"\{level}{{The naive scalar chain rule}}",
             "Student's ordering: " + tex_escape(r.written) + "."]
    if r.general_error:
        parts.append("With symbolic sizes: " + tex_escape(r.general_error) + ".")
    if r.concrete_error:
        parts.append("At the chosen sizes: " + tex_escape(r.concrete_error) + ".")
    if r.student_value is not None and r.correct_value is not None:
        parts.append(rf"\[ \text{{student}} = {bmatrix_numbers(r.student_value)} "
                     rf"\neq {bmatrix_numbers(r.correct_value)}"
                     r" = \text{engine} \]")
    parts.append(f"Verdict: {tex_escape(_VERDICT[r.verdict])}. "
                 rf"The correct formula: ${r.correct.latex}$.")
    return "\n\n".join(parts) + "\n"


def activation_text(a: ActivationStep) -> str:
    l_ = a.layer
    lines = [f"The activation step of layer {l_}: ∂A[{l_}]/∂Z[{l_}]", ""]
    e = a.elementwise
    g = e.network.activation(l_)
    name = f"g[{l_}]" if g is None else g.text
    lines.append(f"Element-wise {name}: diagonal, so Σ dA ⊙ (∂A/∂Z) is dA ⊙ {name}′(Z[{l_}])")
    lines += [array_text(e), zeros_text(e), ""]
    if a.softmax is not None and a.block is not None:
        s = a.softmax
        lines.append("Softmax: a full Jacobian within each example, zero across examples")
        lines += [array_text(s), zeros_text(s)]
        lines.append("One example's block, diag(a) − a aᵀ (from the checked closed form):")
        lines += ["  " + " | ".join(entry_text(x) for x in row) for row in a.block.tolist()]
    if a.note:
        lines.append(f"Note: {a.note}")
    return "\n".join(lines)


def activation_latex(a: ActivationStep, level: str = "subsection") -> str:
    l_ = a.layer
    parts = [rf"\{level}{{The activation step: $\partial A^{{[{l_}]}}/\partial Z^{{[{l_}]}}$}}",
             r"Element-wise: the Jacobian is diagonal, so the chain rule becomes $\odot g'(Z)$.",
             array_latex(a.elementwise)]
    if a.elementwise.rule is not None:
        parts.append(rf"\[ {a.elementwise.rule.latex} \]")
    if a.softmax is not None and a.softmax.rule is not None and a.block is not None:
        parts += [r"Softmax: a full Jacobian within each example, block diagonal across examples.",
                  rf"\[ {a.softmax.rule.latex} \]",
                  r"\[ \operatorname{diag}(a) - a a^{\top} = \begin{bmatrix} "
                  + r" \\ ".join(" & ".join(entry_latex(x) for x in row)
                                 for row in a.block.tolist()) + r" \end{bmatrix} \]"]
    return "\n\n".join(parts) + "\n"
