"""The sections of a handout, each a function ``(ctx) -> list of blocks`` (see derive.handout.doc).

Every formula shown comes from the derivation (printed by :mod:`derive.core.printing`), every shape from
:mod:`derive.network.symbols`, every number from a run (:mod:`derive.handout.checks`); nothing is re-typed.

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> ctx = Context(derive(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
...                      prove=False))
>>> blocks = forward(ctx)
>>> blocks[2].rows[0].lhs, blocks[2].rows[0].rhs
('Z^{[1]}', 'W^{[1]} X + b^{[1]}')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp

from derive.core import expr as E
from derive.core import fd
from derive.core.expr import as_sympy
from derive.core.names import latex_name, text_name
from derive.core.printing import to_code, to_latex, to_text
from derive.engine.backward import Derivation
from derive.errors import ShapeMismatch
from derive.handout.checks import fd_network, fd_rows, judge, unchecked
from derive.handout.doc import (
    Blank,
    Block,
    Display,
    Heading,
    Items,
    M,
    Para,
    Parts,
    Raw,
    Ref,
    Row,
    Table,
)
from derive.handout.drawing import diagram_md, tikz
from derive.handout.prose import batchnorm_item, dropout_item, l2_item, mathify, rule_name
from derive.network.model import concrete_sizes, definitions
from derive.network.spec import Network
from derive.network.symbols import SymbolTable


@dataclass
class Context:
    """What the sections share: the derivation, its symbols, the exercise numbering."""

    derivation: Derivation
    exercises: bool = False
    seed: int = 0
    answers: list[tuple[int, str, str]] = field(default_factory=list)  # (number, label, answer LaTeX)
    plain: list[str] = field(default_factory=list)  # each answer's Unicode text form
    shown: list[str] = field(default_factory=list)  # each answer as the key shows it ("": as is)
    rules: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # rules used, in order
    #: figures the sections make (name → PDF bytes), written beside the .tex; None: no figures
    #: (the handout goes to standard output, where a figure has nowhere to go)
    files: dict[str, bytes] | None = field(default_factory=dict)

    def rule_ref(self, rule: str, cites: tuple[str, ...]) -> Ref:
        """The reference ``R3`` of a rule, numbered in order of first use."""
        names = [r for r, _ in self.rules]
        if rule not in names:
            self.rules.append((rule, cites))
            names.append(rule)
        return Ref(f"R{names.index(rule) + 1}")
    net: Network = field(init=False)
    T: SymbolTable = field(init=False)

    def __post_init__(self) -> None:
        self.net = self.derivation.network
        self.T = SymbolTable(self.net)

    def maybe_blank(self, latex: str, label: str, plain: str = "", shown: str = "") -> str | Blank:
        """The LaTeX itself (``shown``, its form broken over lines, if given), or (exercises) a
        numbered blank whose answer is it (``plain``: the answer as Unicode text)."""
        if not self.exercises:
            return shown or latex
        n = len(self.answers) + 1
        self.answers.append((n, label, latex))
        self.plain.append(plain)
        self.shown.append(shown)
        return Blank(n, latex, shown)


Section = Callable[[Context], list[Block]]  # one section of a handout


def shape_latex(shape: Sequence[object]) -> str:
    return r" \times ".join(sp.latex(as_sympy(d)) for d in shape)


def _role(net: Network, l: int) -> str:
    return "output" if l == net.L else "hidden"


# -- network ---------------------------------------------------------------------------------------
def network(ctx: Context) -> list[Block]:
    net = ctx.net
    out: list[Block] = [Heading(1, "The network"), Para((f"{net.L} layer{'s' if net.L > 1 else ''}: "
                                                  f"{net.describe()}.",))]
    out.append(Raw(tikz(net), diagram_md(net)))
    items: list[Parts] = []
    for l in range(1, net.L + 1):
        act = net.activation(l)
        head: Parts = (f"layer {l} ({_role(net, l)}, ", M(f"n_{{{l}}} = {sp.latex(net.dim(l))}"), "): ")
        if act is None:
            items.append(head + ("a generic activation ", M(f"g^{{[{l}]}}"),
                                 "; the formulas hold for any differentiable g."))
        elif act.kind == "softmax":
            items.append(head + ("softmax over the units of each example, ",
                                 M(r"a_j = e^{z_j} / \sum_k e^{z_k}"), ", with Jacobian ",
                                 M(r"\partial a_k/\partial z_j = a_k(\delta_{kj} - a_j)"), "."))
        else:
            items.append(head + (M(f"{act.latex}(z) = {sp.latex(act.forward)}"), ", derivative ",
                                 M(f"{act.latex}^{{\\prime}} = {sp.latex(act.derivative)}"),
                                 " (in terms of ", M("z"), ", or of its output ", M("a"), ")."))
    loss = net.loss_entry
    if loss is None:
        items.append(("loss: a generic per-example loss ", M(r"\ell(a, y)"),
                      "; the derivation starts from ", M(f"dA^{{[{net.L}]}}"), ", taken as given."))
    else:
        items.append((f"loss {loss.name}: ", M(rf"\ell(a, y) = {loss.latex}"),
                      f" ({loss.assumes})." if loss.assumes else "."))
    out.append(Items(tuple(items)))
    out.append(Heading(2, "Convention"))
    out.append(Items(_convention(ctx)))
    return out


def _convention(ctx: Context) -> tuple[Parts, ...]:
    """The convention in force, in words and maths (the facts of :func:`convention_lines`)."""
    net = ctx.net
    W, b = M("W^{[l]}"), M("b^{[l]}")
    if net.layout.columns:
        layout: Parts = ("Columns: ", M("X = A^{[0]}"), " is ", M(r"n_0 \times m"), ", one column "
                         "per example; ", W, " is ", M(r"n_l \times n_{l-1}"), " and ", b, " is ",
                         M(r"n_l \times 1"), ", broadcast over the ", M("m"), " columns: ",
                         M(r"Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}"), ".")
    else:
        layout = ("Rows: ", M("X = A^{[0]}"), " is ", M(r"m \times n_0"), ", one row per example; ",
                  W, " is ", M(r"n_{l-1} \times n_l"), " and ", b, " is ", M(r"1 \times n_l"),
                  ", broadcast over the ", M("m"), " rows: ", M(r"Z^{[l]} = A^{[l-1]} W^{[l]} + b^{[l]}"),
                  ".")
    dZ, dA = M("dZ^{[l]}"), M("dA^{[l]}")
    if net.per_example_dZ:
        cost: Parts = ("The cost is the mean ", M(r"J = \frac{1}{m}\sum_t \ell_t"), "; ", dZ, " and ",
                       dA, " hold the per-example gradients ", M(r"\partial \ell/\partial Z^{[l]}"),
                       " side by side")
        # where the 1/m goes is half an answer: a worksheet leaves it out
        cost += ((".",) if ctx.exercises else
                 (", so the gradient of ", M("J"), " is ", M("dZ^{[l]}/m"), ", and the ", M("1/m"),
                  " is written in ", M("dW"), " and ", M("db"), "."))
    elif net.cost_is_mean:
        cost = ("The cost is the mean ", M(r"J = \frac{1}{m}\sum_t \ell_t"), ", and the ",
                M("1/m"), " is written in ", M(f"dA^{{[{net.L}]}}"), " and ", M(f"dZ^{{[{net.L}]}}"),
                ", the gradients of J itself.")
    else:
        cost = ("The cost is the sum ", M(r"J = \sum_t \ell_t"), ": there is no ", M("1/m"),
                " anywhere.")
    l2: tuple[Parts, ...] = (l2_item(net),) if net.l2 is not None else ()
    if any(net.dropout(l) is not None for l in range(1, net.L)):
        l2 += (dropout_item(net),)
    if "batchnorm" in net.kinds:
        l2 += (batchnorm_item(net),)
    symbols: Parts = (M(r"\odot"), " is the element-wise product, ", M(r"\oslash"), " element-wise "
                      "division, juxtaposition the matrix product, ", M(r"{}^{\top}"), " the transpose.")
    return (layout, cost, *l2, symbols)


# -- shapes ------------------------------------------------------------------------------------------
BN_SHAPES = ("gamma", "beta", "mu", "var", "Znorm", "Ztilde", "dgamma", "dbeta", "dZtilde")


def _shape_rows(ctx: Context, bases: Sequence[str], layers: Sequence[int]) -> tuple[tuple[Parts, ...], ...]:
    """One row per layer, one cell per quantity: its shape, a blank for a gradient's shape in a
    worksheet (which shows only the gradients), a dash where the layer has no such quantity."""
    T, rows = ctx.T, []
    for l in layers:
        row: list[Parts] = [(str(l),)]
        for b in bases:
            if ctx.exercises and not b.startswith("d"):
                continue  # a gradient has its quantity's shape: showing W[l]'s gives dW[l]'s away
            try:
                sym = T[b, l]
            except KeyError:  # a batch-norm layer has no b (β takes its place)
                row.append(("--",))
                continue
            s = shape_latex(sym.shape)
            cell = ctx.maybe_blank(s, f"shape of {text_name(b, l)}",
                                   " × ".join(str(d) for d in sym.shape)) if b.startswith("d") else s
            row.append((cell if isinstance(cell, Blank) else M(cell),))
        rows.append(tuple(row))
    return tuple(rows)


def shapes(ctx: Context) -> list[Block]:
    T, net = ctx.T, ctx.net
    header = ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")
    rows = _shape_rows(ctx, header, range(1, net.L + 1))
    normalised = [l for l in range(1, net.L + 1) if net.kinds[l - 1] == "batchnorm"]
    bn_rows = _shape_rows(ctx, BN_SHAPES, normalised)
    consistent = all(
        all(bool(as_sympy(a) == as_sympy(b)) for a, b in zip(f.shape, f.target.shape, strict=True))
        for f in ctx.derivation.formulas)
    intro: Parts = ("Every quantity and its shape (rows × columns). The input ", M("X = A^{[0]}"), " is ",
             M(shape_latex(T["X"].shape)), " and the targets ", M("Y"), " are ",
             M(shape_latex(T["Y"].shape)), ".")
    bn_intro: list[Block] = []
    if normalised:
        bn_intro.append(Para(("A batch-normalised layer has no bias (", M(r"\beta"), " takes its "
                              "place); its scale and shift ", M(r"\gamma, \beta"), " and its batch "
                              "statistics ", M(r"\mu, \sigma^2"), " hold one number per unit:",)))
    if ctx.exercises:
        grads = tuple(h for h in header if h.startswith("d"))
        out: list[Block] = [Heading(1, "Shapes"),
                            Para(("Give the shape (rows × columns) of every gradient, in terms of the "
                                  "sizes ", M("n_l"), " and ", M("m"), ".")),
                            Table(_math_header(("l", *grads)), rows, "r" + "c" * len(grads))]
        if normalised:
            bgrads = tuple(h for h in BN_SHAPES if h.startswith("d"))
            out += [*bn_intro, Table(_math_header(("l", *bgrads)), bn_rows, "r" + "c" * len(bgrads))]
        return out
    if consistent:
        intro += (" Each gradient has the shape of the quantity it belongs to: the tool checked the "
                  "shape of every derived formula against this table.",)
    out = [Heading(1, "Shapes"), Para(intro), Table(_math_header(("l", *header)), rows, "r" + "c" * 8)]
    if normalised:
        out += [*bn_intro, Table(_math_header(("l", *BN_SHAPES)), bn_rows, "r" + "c" * len(BN_SHAPES))]
    return out


def _math_header(header: Sequence[str]) -> tuple[str | M, ...]:
    """``W`` → the maths ``W^{[l]}`` (the first column, ``l``, too); ``dgamma`` → ``d\\gamma^{[l]}``."""
    return tuple(M(h) if h == "l" else M(latex_name(h, 99).replace("[99]", "[l]")) for h in header)


# -- forward -------------------------------------------------------------------------------------
def forward(ctx: Context) -> list[Block]:
    net = ctx.net
    rows = []
    for l in range(1, net.L + 1):  # each layer's own forward definitions: Z[l] = W[l] A[l-1] + b[l], ...
        for target, e in definitions(net, l):
            rows.append(Row(to_latex(target), to_latex(e),
                            () if ctx.exercises else (M(rf"\quad {shape_latex(e.shape)}"),)))
    scale = r"\frac{1}{m}" if net.cost_is_mean else ""
    rows.append(Row("J", rf"{scale}\sum_{{i=1}}^{{m}} \ell\bigl(a^{{[{net.L}](i)}}, y^{{(i)}}\bigr)",
                    () if ctx.exercises else (M(r"\quad 1 \times 1"),)))
    bias = net.layout.example_word  # b[l] has the shape of one example: a column or a row
    return [Heading(1, "Forward pass"),
            Para((f"Layer by layer; the bias {bias} is broadcast over the ", M("m"), " examples, and "
                  "the cost " + ("averages" if net.cost_is_mean else "sums") + " the per-example loss, "
                  "where ", M(r"a^{(i)}"), " is example ", M("i"), "'s output.")),
            Display(tuple(rows))]


def rules_used(ctx: Context) -> list[Block]:
    """The table of the rules the steps referred to, R1, R2, ... (the last block of a handout)."""
    if not ctx.rules:
        return []
    rows = tuple(((f"R{i}",), (rule_name(r)[:1].upper() + rule_name(r)[1:],),
                  (", ".join(c.replace(":", " ") for c in cites) or "",))
                 for i, (r, cites) in enumerate(ctx.rules, 1))
    return [Heading(1, "Rules used"), Table(("ref.", "rule", "catalogue entries"), rows, "llp{5cm}")]


# -- where 1/m and the sum come from ---------------------------------------------------------------
def averaging(ctx: Context) -> list[Block]:
    net, d = ctx.net, ctx.derivation
    L, layout = net.L, net.layout
    dW, db = d.formula("dW", L), d.formula("db", L)
    out: list[Block] = [Heading(1, "Where the 1/m and the sum over examples come from")]
    idx = "".join(layout.batch("i", "t"))  # Z[L]ᵢₜ (columns) or Z[L]ₜᵢ (rows): unit i, example t
    jdx = "".join(layout.batch("j", "t"))
    wij = "".join(layout.weight("i", "j"))  # W[L]ᵢⱼ or W[L]ⱼᵢ
    Z, W, A, b = (latex_name(x, L) for x in ("Z", "W", "A", "b"))
    Ap = latex_name("A", L - 1)
    if net.per_example_dZ:
        out.append(Para(("The cost is the mean of the per-example losses, ",
                         M(r"J = \frac{1}{m}\sum_{t=1}^{m} \ell_t"), ". The matrices ",
                         M(latex_name("dZ", L)), " and ", M(latex_name("dA", L)),
                         " hold the per-example gradients ", M(r"\partial \ell_t / \partial Z"),
                         " (one column per example) and carry no 1/m.")))
    elif net.cost_is_mean:  # scale dZ: the 1/m is in dZ[L]
        out.append(Para(("The cost is the mean of the per-example losses, ",
                         M(r"J = \frac{1}{m}\sum_{t=1}^{m} \ell_t"), " (scale dZ): the 1/m is "
                         "written in ", M(latex_name("dA", L)), " and ", M(latex_name("dZ", L)),
                         ", which are the true gradients ", M(r"\partial J / \partial Z"),
                         ", so dW and db carry no 1/m of their own.")))
    else:
        out.append(Para(("The cost is the sum of the per-example losses, ",
                         M(r"J = \sum_{t=1}^{m} \ell_t"), " (scale sum): there is no 1/m anywhere.")))
    out.append(Para(("Every example uses the same weights: ",
                     M(rf"{Z}_{{{idx}}} = \sum_j {W}_{{{wij}}} {Ap}_{{{jdx}}} + {b}_i"),
                     " for each t. So a weight collects one contribution per example, and the chain "
                     "rule adds them up:")))
    factor = r"\frac{1}{m}" if net.per_example_dZ else ""
    out.append(Display((Row(rf"\frac{{\partial J}}{{\partial {W}_{{{wij}}}}}",
                            rf"{factor}\sum_{{t=1}}^{{m}} dZ^{{[{L}]}}_{{{idx}}} {Ap}_{{{jdx}}}"),
                        Row(to_latex(dW.target), to_latex(dW.expr)))))
    out.append(Para(("The sum over t is the inner index of the matrix product; the 1/m is the "
                     "cost's own." if net.per_example_dZ else
                     "The sum over t is the inner index of the matrix product.",
                     " The bias is broadcast to every example (", M(rf"{b}\,\mathbf{{1}}^{{\top}}"
                     if layout.columns else rf"\mathbf{{1}}\,{b}"), "), and the derivative of a broadcast is a "
                     "sum over the examples:")))
    out.append(Display((Row(to_latex(db.target), to_latex(db.expr)),)))
    out.append(Para(("In numpy: ", M(r"\texttt{" + to_code(db.expr).replace("_", r"\_") + "}"),
                     f" (keepdims keeps the {layout.example_word} shape). ")))
    up = d.get("dA", L - 1)
    if up is not None:
        out.append(Para(("By contrast ", M(f"{to_latex(up.target)} = {to_latex(up.expr)}"),
                         " is per example: example t's gradient depends only on example t's ",
                         M(latex_name("dZ", L)), ", so there is neither a sum over examples nor a 1/m.")))
    return out


# -- why the order --------------------------------------------------------------------------------
def order(ctx: Context) -> list[Block]:
    net, d = ctx.net, ctx.derivation
    f = d.get("dA", net.L - 1)
    if f is None or not isinstance(f.expr, E.MatMul):
        f = d.formula("dW", net.L)
    prod = f.expr.arg if isinstance(f.expr, E.Scale) else f.expr
    if not isinstance(prod, E.MatMul):
        raise TypeError(f"{f.name} is not a matrix product: {to_text(f.expr)}")
    left, right = prod.left, prod.right
    wrong = unchecked(E.MatMul, left=right, right=left)
    try:
        E.MatMul(right, left)
        message = None
    except ShapeMismatch as exc:
        message = str(exc)
    good = to_latex(prod)
    bad = to_latex(wrong)
    out: list[Block] = [Heading(1, "Why the order of the factors matters"),
           Para(("Why ", M(good), " and not ", M(bad), "?")),
           Para(("The shapes decide. ", M(f"{to_latex(left)}"), " is ", M(shape_latex(left.shape)),
                 " and ", M(f"{to_latex(right)}"), " is ", M(shape_latex(right.shape)), ", so")),
           Display((
               Row(good, rf"({shape_latex(left.shape)})\,({shape_latex(right.shape)}) "
                         rf"\to {shape_latex(prod.shape)}",
                   ("  the shape of ", M(to_latex(f.target)), ", as it must be"), rel=":"),
               Row(bad, rf"({shape_latex(right.shape)})\,({shape_latex(left.shape)})",
                   ("  inner dimensions ", M(sp.latex(right.shape[1])), " and ",
                    M(sp.latex(left.shape[0])), " differ"), rel=":"),
           ))]
    if message is not None:
        out.append(Para(("The tool itself refuses the second product: ",)))
        out.append(Para(mathify(message)))
    if f.kind == "dA":
        step = next((s for s in d.steps_for(f.layer + 1) if s.target == f.target), None)
        if step is not None:
            out.append(Para(("Entry by entry it is the same argument: the sum runs over the index "
                             "that the two factors share,",)))
            out.append(Display((Row("", step.index_latex, rel=""),)))
            out.append(Para(("which is exactly ", M(good), ". The scalar chain rule's habit of "
                             "writing factors in the order they appear does not carry over to "
                             "matrices: order and transposes follow from the indices, and the shapes "
                             "are the quick check.",)))
    return out


# -- verification ---------------------------------------------------------------------------------
def verification(ctx: Context) -> list[Block]:
    d = ctx.derivation
    rows = fd_rows(d, seed=ctx.seed)
    threshold = fd.DEFAULT_THRESHOLD
    cells = []
    for r in rows:
        status = ("pass" if r.error < threshold else "FAIL") if r.meaningful else "below noise"
        cells.append(((M(r.latex),), (str(r.entries),), (M(_sci(r.first_analytic)),),
                      (M(_sci(r.first_numeric)),), (M(_sci(r.analytic)),), (M(_sci(r.numeric)),),
                      (M(_sci(r.error)),), (status,)))
    skipped = [r.name for r in rows if not r.meaningful]
    out: list[Block] = [Heading(1, "Verification"),
           Para(("A real run on a random instance (seed ", str(ctx.seed), ", m = 4, sizes ",
                 ", ".join(str(s) for s in _sizes(ctx)), "): the analytic gradient is the formulas "
                 "above evaluated with numpy; the numeric one is the central difference of the cost "
                 "J, end to end, with step ", M(_sci(fd.DEFAULT_EPS)), ". Relative error ",
                 M(r"\lVert g - \hat g\rVert / (\lVert g\rVert + \lVert \hat g\rVert)"),
                 "; pass below ", M(_sci(threshold)), ". Entry (1,1) and the Frobenius norms are shown.",
                 _narrowed(ctx))),
           Table(("param.", "entries", "analytic (1,1)", "numeric (1,1)", "‖analytic‖",
                  "‖numeric‖", "rel. error", "status"), tuple(cells), "lrrrrrrl")]
    if skipped:
        out.append(Para((f"{', '.join(skipped)}: the gradient is so small here (deep network) that "
                         "float64 round-off in the cost alone could explain a relative error near "
                         "the threshold, so these rows are shown but not counted; the element-wise "
                         "proof below covers every layer.",)))
    ok = all(r.passed for r in rows)
    out.append(Para((f"Result: {'every counted parameter passes' if ok else 'A GRADIENT FAILED'} "
                     "(largest counted relative error ",
                     M(_sci(max((r.error for r in rows if r.meaningful), default=0.0), 1)), ").")))
    proof = d.proof
    if proof is not None:  # a Derivation's proof, once it has run
        prows = tuple(((M(to_latex(d.formula(p.kind, p.layer).target)),), (p.elementwise,),
                       (str(p.entries),), (M(_sci(p.fd_error)),)) for p in proof.formulas)
        out += [Para(("Element-wise check: every formula was also proven entry by entry. A computer-algebra system "
                      "differentiates the scalar cost of a small symbolic instance (sizes 2 or 3, "
                      "m = 2; a generic g stays an undefined function) and each entry must match "
                      "exactly; a local finite-difference check runs beside it. Result: ",
                      ("all proven" + (f"; {proof.cache_note()}" if proof.cache_note() else "") + "."
                       if proof.passed else "FAILED."))),
                Table(("formula", "element-wise", "entries", "local fd error"), prows, "lllr")]
    return out


def _narrowed(ctx: Context) -> str:
    if tuple(_sizes(ctx)) == tuple(concrete_sizes(ctx.net)):
        return ""
    return (" Wider layers are narrowed for this run: the formulas do not depend on the sizes, "
            "and every perturbed copy of a wide W would cost a forward pass.")


def _sizes(ctx: Context) -> tuple[int | None, ...]:
    return fd_network(ctx.net).layers or ()


def _sci(x: float, digits: int = 2) -> str:
    """A number in scientific notation as maths: 9.1e-11 → ``9.1 \\times 10^{-11}``, 1e-05 → ``10^{-5}``."""
    if x == 0:
        return "0"
    mant, exp = f"{x:.{digits}e}".split("e")
    if float(mant) == 1:
        return rf"10^{{{int(exp)}}}"
    return rf"{mant}\times 10^{{{int(exp)}}}"


# -- common mistakes ---------------------------------------------------------------------------------
def mistakes(ctx: Context) -> list[Block]:
    judged = judge(ctx.derivation, seed=ctx.seed)
    source = {v.get("source") for _, v in judged}
    who = ("derive check" if source == {"derive check"} else
           "the tool's own shape check and a numeric comparison (derive check not installed)"
           if source == {"handout"} else "derive check, or the tool's own checks")
    out: list[Block] = [Heading(1, "Common mistakes"),
           Para((f"Wrong versions of the formulas above, as students write them, each judged by "
                 f"{who}.",))]
    items: list[Parts] = []
    for v, verdict in judged:
        label = verdict.get("verdict", "?").replace("_", " ")
        found = [x["code"] if isinstance(x, dict) else str(x) for x in verdict.get("mistakes") or []]
        why = [x["message"] for x in verdict.get("mistakes") or [] if isinstance(x, dict)]
        msg = verdict.get("message", "")
        codes = ", ".join(c.replace("_", " ") for c in found) or v.code.replace("_", " ")
        text = f" -- verdict: {label} ({codes}). {msg[:1].upper()}{msg[1:]}."
        text += "".join(f" {w}" for w in why)
        cx = verdict.get("counterexample")
        tail: Parts = ()
        if isinstance(cx, dict) and "expected_entry" in cx:
            tail = (f" Counterexample: entry {tuple(cx.get('entry', ()))} is ",
                    M(_sci(cx["got_entry"], 3) if abs(cx["got_entry"]) < 1e-3 else f"{cx['got_entry']:.4g}"),
                    " instead of ", M(_sci(cx["expected_entry"], 3) if abs(cx["expected_entry"]) < 1e-3
                                      else f"{cx['expected_entry']:.4g}"), ".")
        items.append((M(v.latex), *mathify(text.replace("..", ".")), *tail))
    out.append(Items(tuple(items)))
    return out


def answers(ctx: Context) -> list[Block]:
    """The key's list of answers (exercises only)."""
    if not ctx.answers:
        return []
    def cell(ans: str, shown: str) -> M:  # an answer too wide for the page, over lines
        return M(rf"\begin{{aligned}}&{shown}\end{{aligned}}" if "\\\\" in shown else ans)
    rows = tuple(((str(n),), (label,), (cell(ans, shown),))
                 for (n, label, ans), shown in zip(ctx.answers, ctx.shown, strict=True))
    return [Heading(1, "Answers"), Table(("no.", "blank", "answer"), rows, "rll")]
