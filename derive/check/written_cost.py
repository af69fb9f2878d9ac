"""The derivative operator applied to a cost written out (issue 13): the left side of
``\\frac{\\partial}{\\partial w^2_{11}} \\frac{1}{2}(\\sigma(w^2_{11}a^2_1 + w^2_{12}a^2_2) - y)^2
= a^2_1(a^3_1 - y)\\sigma'(z^3_1)``.

Such an equation says two things, and both are checked:

1. the right side is the gradient: it is checked as ``\\frac{\\partial C}{\\partial w^2_{11}} =
   (right side)`` would be, by the checker itself;
2. the expression after the operator has that gradient: it is read here as scalar arithmetic over
   the network's entries (``w^l_{jk}``, ``a^l_j``, ``z^l_j``, ``b^l_j``, ``x_j``, ``y``,
   ``\\hat{y}``; + − products, ``\\frac``, integer powers, σ, tanh, exp, log), and its
   derivative with respect to the entry, through the network's own forward pass, is compared by
   central differences with the network cost's on random instances of one example. A cost
   written with only the terms that depend on the entry (½(a_1 − y_1)² of a two-output network)
   is the same derivative and passes; a cost that leaves out a bias the network has is compared
   with the biases at 0, and the note says so. Layers are numbered as the formula's own count
   (derive.parse.latex_layers' schemes), the one consistent with the gradient the right side
   names.

What cannot be read (a norm, a sum, a generic g) leaves the verdict to the right side, with the
condition that the expression is the network's cost. Nothing is evaluated by Python: the text
is tokenised by the LaTeX reader's tokeniser and read by the small parser below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from derive.check.verdict import Verdict
from derive.errors import DeriveError, ParseError
from derive.parse.chain import _OPERATOR, _after_groups, is_operator, links
from derive.parse.latex_layers import NOTES, SCHEMES, renumbered
from derive.parse.latex_tokens import Tok, tokenize

if TYPE_CHECKING:
    from derive.network.spec import Network

Node = tuple[Any, ...]  # ("num", v) | ("entry", letter, layer, index, position) | (op, *children)
BASES = {"w": "W", "b": "b", "a": "A", "z": "Z", "x": "X", "y": "Y"}
CALLS = {"sigma": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu",
         "exp": "exp", "log": "log", "ln": "log"}
MAX_DEPTH = 60  # nesting of the written cost (the tokeniser bounds its length)
MAX_POWER = 8
SEEDS = (11, 12, 13)  # the random instances the derivative is compared on
STEP = 1e-5
TOLERANCE = 1e-6


class Unreadable(Exception):
    """The written cost uses something this reader does not read (the message says what)."""


# -- splitting the equation -------------------------------------------------------------------
def split(equation: str) -> tuple[str, str, tuple[int, int]] | None:
    """(the equation with its left side rewritten as ``\\frac{\\partial C}{\\partial Q}``, padded
    so positions stay, the written entry Q, the span of the written cost), or None when the left
    side is not the operator applied to a written-out expression."""
    c = links(equation)
    if len(c.links) < 2:
        return None
    a, b = c.links[0]
    link = equation[a:b]
    op = _OPERATOR.match(link)
    if op is None or not is_operator(link):
        return None
    close = _after_groups(link, op.end(), 1)  # after {\partial Q}
    denominator = link[op.end():close].strip()
    if not (denominator.startswith("{") and denominator.endswith("}")):
        return None
    inner = denominator[1:-1].strip()
    d = "\\partial" if inner.startswith("\\partial") else "d"
    wrt = inner[len(d):].strip()
    head = f"\\frac{{{d} C}}{{{d} {wrt}}}"
    if not wrt or len(head) > b - a:
        return None
    rewritten = equation[:a] + head.ljust(b - a) + equation[b:]
    return rewritten, wrt, (a + close, b)


# -- reading the written cost -----------------------------------------------------------------
class _Reader:
    def __init__(self, text: str, start: int, end: int):
        try:
            self.toks = tokenize(text, start, end)
        except ParseError as exc:
            raise Unreadable(exc.message) from None
        self.i = 0
        self.depth = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek().text != text:
            raise Unreadable(f"'{text}' expected at position {self.peek().start}")
        self.take()

    def whole(self) -> Node:
        node = self.sum()
        if self.peek().kind != "end":
            raise Unreadable(f"'{self.peek().text}' at position {self.peek().start} is not read")
        return node

    def sum(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unreadable(f"nested deeper than {MAX_DEPTH}")
        node = self.product()
        while self.peek().text in ("+", "-"):
            op = self.take().text
            node = ("add" if op == "+" else "sub", node, self.product())
        self.depth -= 1
        return node

    def product(self) -> Node:
        if self.peek().text == "-":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise Unreadable(f"nested deeper than {MAX_DEPTH}")
            negated: Node = ("neg", self.product())
            self.depth -= 1
            return negated
        node: Node = self.power()
        while True:
            tok = self.peek()
            if tok.text in ("*",) or (tok.kind == "cmd" and tok.text in ("cdot", "times")):
                self.take()
                node = ("mul", node, self.power())
            elif tok.kind in ("num", "word", "cmd") or tok.text in ("(", "[", "{"):
                node = ("mul", node, self.power())  # juxtaposition: a product of scalars
            else:
                return node

    def power(self) -> Node:
        node = self.atom()
        if self.peek().text == "^":
            self.take()
            exponent = self.script()
            if not (exponent.isdigit() and int(exponent) <= MAX_POWER):
                raise Unreadable(f"the power ^{exponent} is not read (whole powers up to "
                                 f"{MAX_POWER})")
            node = ("pow", node, int(exponent))
        return node

    def script(self) -> str:
        """A superscript or subscript: one token, or a brace group of numbers and words."""
        if self.peek().text != "{":
            tok = self.take()
            if tok.kind not in ("num", "word"):
                raise Unreadable(f"'{tok.text}' at position {tok.start} is not an index")
            return tok.text
        self.take()
        parts = []
        while self.peek().text not in ("}", ""):
            tok = self.take()
            if tok.kind not in ("num", "word") and tok.text not in (",", "(", ")"):
                raise Unreadable(f"'{tok.text}' at position {tok.start} is not an index")
            parts.append(tok.text)
        self.expect("}")
        return "".join(parts)

    def group(self, close: str) -> Node:
        node = self.sum()
        self.expect(close)
        return node

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("num", float(tok.text))
        if tok.text in ("(", "[", "{"):
            return self.group({"(": ")", "[": "]", "{": "}"}[tok.text])
        if tok.kind == "cmd" and tok.text in ("frac", "dfrac", "tfrac"):
            self.expect("{")
            top = self.group("}")
            self.expect("{")
            return ("div", top, self.group("}"))
        if tok.kind == "cmd" and tok.text in ("hat", "widehat"):
            self.expect("{")
            letter = self.take()
            self.expect("}")
            if letter.text not in ("y", "Y"):
                raise Unreadable(f"\\hat{{{letter.text}}} is not read in a written cost")
            return self.entry("yhat", tok)
        name = tok.text if tok.kind == "cmd" else tok.text.lower()
        if name in CALLS and (tok.kind == "cmd" or len(tok.text) > 1):
            if self.peek().text == "'":
                raise Unreadable("a derivative is written in the cost")
            self.expect("(")
            return ("call", CALLS[name], self.group(")"))
        if tok.kind == "word" and len(tok.text) == 1 and tok.text.lower() in BASES:
            return self.entry(tok.text.lower(), tok)
        raise Unreadable(f"'{tok.text}' at position {tok.start} is not read in a written cost "
                         "(entries w, b, a, z, x, y of the network, σ, tanh, exp, log)")

    def entry(self, letter: str, tok: Tok) -> Node:
        layer = index = None
        for _ in range(2):
            if self.peek().text == "^" and layer is None and letter not in ("x", "y", "yhat"):
                self.take()
                layer = self.script().strip("()")
            elif self.peek().text == "_" and index is None:
                self.take()
                index = self.script()
        if layer is not None and not layer.isdigit():
            raise Unreadable(f"the layer {layer} of {tok.text} is not a number")
        return ("entry", letter, int(layer) if layer else None, index or "", tok.start)


def read(text: str, start: int, end: int) -> Node:
    """The written cost between ``start`` and ``end`` of ``text``, as a tree (or Unreadable)."""
    return _Reader(text, start, end).whole()


# -- evaluating it on the network's quantities ------------------------------------------------
def _units(index: str, count: int) -> tuple[int, ...]:
    """The written unit indices (1-based; "11" on a weight is j = 1, k = 1)."""
    parts = index.replace("(", "").replace(")", "").split(",") if "," in index else (
        list(index) if count == 2 and len(index) == 2 else [index] if index else [])
    if not all(p.isdigit() for p in parts):
        raise Unreadable(f"the entry index {index} is not numbers")
    return tuple(int(p) for p in parts)


def _value(node: Node, look: Callable[[Node], float]) -> float:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "entry":
        return look(node)
    if kind == "neg":
        return -_value(node[1], look)
    if kind == "pow":
        return _value(node[1], look) ** node[2]
    if kind == "call":
        x = _value(node[2], look)
        if node[1] == "exp":
            return math.exp(min(x, 700.0))
        if node[1] == "log":
            return math.log(x) if x > 0 else math.nan
        from derive.catalogue import rules
        return float(rules.activations()[node[1]].numpy_forward(x))
    left, right = _value(node[1], look), _value(node[2], look)
    if kind == "add":
        return left + right
    if kind == "sub":
        return left - right
    if kind == "mul":
        return left * right
    return left / right if right != 0 else math.nan


def _entries(node: Node) -> list[Node]:
    if node[0] == "entry":
        return [node]
    return [e for child in node[1:] if isinstance(child, tuple) for e in _entries(child)]


def _place(net: Network, sizes: tuple[int, ...], node: Node,
           scheme: str) -> tuple[tuple[str, int | None], tuple[int, int]]:
    """(the quantity's key, its array index) of a written entry under ``scheme``; Unreadable
    when the network has no such entry."""
    _, letter, layer, index, _pos = node
    L = net.L
    if letter == "yhat":
        key: tuple[str, int | None] = ("A", L)
    elif letter == "y":
        key = ("Y", None)
    elif letter == "x":
        key = ("A", 0)
    else:
        if layer is None:
            raise Unreadable(f"{letter} is written without its layer")
        new = renumbered(scheme, BASES[letter], ("num", layer))
        key = (BASES[letter], None if new is None else int(new[1]))
    units = _units(index, 2 if key[0] == "W" else 1)
    if key[1] is not None and not 0 <= key[1] <= L or key[0] in ("W", "b") and not key[1]:
        raise Unreadable(f"no layer {layer} of {letter}")
    size = sizes[key[1] if key[1] is not None else L]
    if key[0] == "W":
        if len(units) != 2:
            raise Unreadable(f"the weight {letter} needs two indices")
        j, k = units
        shape = (size, sizes[key[1] - 1])  # type: ignore[operator]
        rows = not net.layout.columns
        if not (1 <= j <= shape[0] and 1 <= k <= shape[1]):
            raise Unreadable(f"no entry {index} of {letter}")
        return key, ((k - 1, j - 1) if rows else (j - 1, k - 1))
    j = units[0] if units else 1
    if len(units) > 1 or not 1 <= j <= size or (not units and size != 1):
        raise Unreadable(f"no entry {index or '(none written)'} of {letter}")
    return key, ((j - 1, 0) if net.layout.columns else (0, j - 1))


def _derivative(net: Network, cost: Callable[[dict], float], params: dict, X, wrt,
                where: tuple[int, int]) -> float:
    """Central difference of ``cost`` (a function of the forward values) along one entry of a
    parameter W/b or of an intermediate Z/A (the pass restarted from it)."""
    from derive.network.model import forward

    values = []
    for sign in (1, -1):
        base, layer = wrt
        if base in ("W", "b"):
            moved = dict(params)
            moved[wrt] = params[wrt].copy()
            moved[wrt][where] += sign * STEP
            cache = forward(net, moved, X)
            env = {**moved, **cache}
        else:
            start = forward(net, params, X)
            value = start[wrt].copy()
            value[where] += sign * STEP
            cache = forward(net, params, X, start=layer, start_value=(base, value)) \
                if layer else {**start, wrt: value}
            env = {**params, **start, **cache}
        values.append(cost(env))
    return (values[0] - values[1]) / (2 * STEP)


def _costs(net: Network, node: Node, entries: list[Node], places: list, Y) -> tuple[
        Callable[[dict], float], Callable[[dict], float]]:
    """The written cost and the network's, each a function of the forward values (and the
    parameters, in the same dict: the L2 penalty reads the perturbed W)."""
    from derive.network.model import cost

    def written(env: dict) -> float:
        env = {**env, ("Y", None): Y}
        look = {id(e): float(env[key][ix]) for e, (key, ix) in zip(entries, places, strict=True)}
        return _value(node, lambda e: look[id(e)])

    def network(env: dict) -> float:
        return float(cost(net, env, Y, env))

    return written, network


def verify(net: Network, node: Node, wrt_node: Node, target: str | None) -> tuple[bool, str, dict]:
    """Whether the written cost has the network cost's derivative along the written entry:
    (agrees, what to say, the values at the first instance that disagrees)."""
    from derive.network.model import concrete_sizes, random_instance

    entries = _entries(node)
    sizes = concrete_sizes(net)
    last: dict = {}
    for scheme in SCHEMES:
        try:
            wrt, where = _place(net, sizes, wrt_node, scheme)
            places = [_place(net, sizes, e, scheme) for e in entries]
        except Unreadable:
            continue
        if wrt[0] not in ("W", "b", "Z", "A") or wrt[1] is None or wrt[1] < 1 and wrt[0] != "A":
            continue
        if target is not None and target != f"d{wrt[0]}[{wrt[1]}]":
            continue  # not the numbering the right side was read in
        for zero in (False, True):
            agrees = True
            for seed in SEEDS:
                inst = random_instance(net, seed=seed, m=1)
                params = {k: (v * 0 if zero and k[0] == "b" else v) for k, v in inst.params.items()}

                written, network = _costs(net, node, entries, places, inst.Y)
                mine = _derivative(net, written, params, inst.X, wrt, where)
                theirs = _derivative(net, network, params, inst.X, wrt, where)
                if not abs(mine - theirs) <= TOLERANCE * (1 + abs(theirs)):
                    agrees = False  # the checker's counterexample, the entry Q's (1-based)
                    last = {"sizes": {**{f"n{k}": n for k, n in enumerate(sizes)}, "m": 1},
                            "seed": seed, "inputs": {}, "expected": None, "got": None,
                            "entry": [where[0] + 1, where[1] + 1], "expected_entry": theirs,
                            "got_entry": mine,
                            "note": "∂/∂(the entry) of the written cost (got) and of the "
                                    "network's cost (expected), by central differences"
                                    + (", the biases at 0" if zero else "")}
                    break
            if agrees:
                said = NOTES.get(scheme, "layers as derive counts them")
                zeroed = "; the cost as written has no bias where the network has one: " \
                         "compared with the biases at 0" if zero else ""
                return True, f"{said}{zeroed}", {}
    return False, "", last


# -- the check --------------------------------------------------------------------------------
def check_written(equation: str, network: Any, check: Callable[[str], Verdict]) -> Verdict | None:
    """The verdict of ``\\frac{\\partial}{\\partial Q} (cost written out) = formula``, or None
    when ``equation`` is not of that form. ``check`` checks the rewritten equation."""
    parts = split(equation)
    if parts is None:
        return None
    rewritten, wrt, (a, b) = parts
    v = check(rewritten)
    said = f"\\frac{{\\partial}}{{\\partial {wrt}}} applied to the cost written out"
    if v.verdict != "correct":
        return replace(v, notes=(f"{said}: the right side checked as the gradient "
                                 f"∂C/∂{wrt}", *v.notes))
    try:
        node = read(equation, a, b)
        wrt_node = read(wrt, 0, len(wrt))
        if wrt_node[0] != "entry":
            raise Unreadable(f"{wrt} is not one entry")
        from derive.network.spec import Network
        if not isinstance(network, Network) or network.loss is None or any(
                network.activation(l) is None for l in range(1, network.L + 1)):
            raise Unreadable("the network's loss and activations are not all given")
        agrees, how, values = verify(network, node, wrt_node, v.target)
    except (Unreadable, DeriveError, KeyError, ValueError, OverflowError) as exc:
        reason = exc.args[0] if exc.args else type(exc).__name__
        return replace(v, conditions=(*v.conditions,
                                      f"assumes the expression after \\frac{{\\partial}}{{\\partial "
                                      f"{wrt}}} is the network's cost (it was not read: {reason})"),
                       notes=(*v.notes, f"{said}: not read ({reason})"))
    if agrees:
        return replace(v, notes=(*v.notes, f"{said}: its derivative along {wrt} is the network "
                                 f"cost's at {len(SEEDS)} random instances of one example ({how})"))
    shown = (f": at a random instance (seed {values['seed']}) ∂/∂{wrt} of the expression is "
             f"{values['got_entry']:.6g}, of the network's cost {values['expected_entry']:.6g}"
             if values else "")
    return Verdict("not_equivalent", target=v.target, syntax=v.syntax, network=v.network,
                   dialect=v.dialect, notes=v.notes, counterexample=values or None,
                   message=f"the expression after \\frac{{\\partial}}{{\\partial {wrt}}} is not "
                           f"the network's cost (nor differs from it only by terms without "
                           f"{wrt}){shown}; the right side alone is the gradient")


__all__ = ["check_written", "read", "split", "verify"]
