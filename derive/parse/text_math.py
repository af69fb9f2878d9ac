"""The text pre-pass's cursor over its tokens, and the semi-math readings that look ahead
(issue 13): ``Σ dZ1`` (the sum over the m examples) and ``softmax(Z2)`` on a softmax layer (A[2]).

>>> from derive.network.spec import Network
>>> from derive import check
>>> net = Network(layers=[3, 4, 2], activations=["tanh", "softmax"], loss="ce")
>>> check("db1 = (1/m) Σ dZ1", net).verdict, check("dZ2 = softmax(Z2) - Y", net).verdict
('correct', 'correct')
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from derive.parse.build import Builder, Span
from derive.parse.cursor import TokenCursor
from derive.parse.names import LayerIndex, Name, resolve_ident
from derive.parse.text_tokens import Tok
from derive.parse.walker import Entry, Piece

BINOPS = {"+": "+", "-": "-", "*": "*", "/": "/", "@": "@", "⊙": "*", "·": "%", ">": ">",
          "<": "<", ">=": ">=", "<=": "<=", "==": "==", "!=": "!=", ".*": "*", "./": "/"}


class Cursor(TokenCursor[Tok], ABC):
    """Token access for the pre-pass (derive.parse.text; derive.parse.cursor's, shared with
    the LaTeX reader), and its look-ahead readings."""

    END = "END"

    def __init__(self, b: Builder, toks: list[Tok]):
        super().__init__(b, toks)
        self.table: dict[str, Entry] = {}

    @abstractmethod
    def operand(self, in_call: bool) -> tuple[list[Piece], Span]:
        """One operand with its postfixes, as Python text pieces, and its span."""

    def placeholder(self, entry: Entry, start: int, end: int) -> Piece:
        name = f"_p{len(self.table)}"
        self.table[name] = entry
        return (name, start, end)

    def total(self, t: Tok) -> tuple[list[Piece], int]:
        """``Σ dZ1``, ``Σ_i dZ1``, ``\\sum_{i=1}^m dZ1 A0ᵀ``: the operands side by side after Σ,
        summed over the m examples (as LaTeX's ``\\sum`` reads them)."""
        p = self.peek()
        if p.kind == "NAME" and p.text.startswith("_") and not p.space:
            self.next()  # Σ_i: the index, which adds nothing here
        if self.peek().text == "^":  # Σ^m: its upper limit
            self.next()
            self.operand(False)
        run: list[tuple[list[Piece], Span]] = []
        while self.peek().kind != "END" and not (self.peek().kind == "OP" and (
                self.peek().text in BINOPS or self.peek().text in (")", "]", ","))):
            run.append(self.operand(False))
        if not run:
            raise self.err("Σ needs what it sums: Σ dZ1 (over the m examples)", t)
        end = run[-1][1][1]
        body = run[0][0] if len(run) == 1 else [("_jx(", t.end, t.end), *[
            p for j, (ps, _) in enumerate(run) for p in ([(", ", t.end, t.end)] if j else [])
            + ps], (")", end, end)]
        axis = self.b.net.layout.example_sum_axis
        self.b.note(f"{self.b.text[t.start:end]}: Σ read as the sum over the m examples")
        return [("np.sum(", t.start, t.end), *body,
                (f", axis={axis}, keepdims=True)", end, end)], end

    def softmax_output(self, t: Tok, name: Name,
                       index: LayerIndex | None) -> tuple[list[Piece], int] | None:
        """``softmax(Z2)`` (or ``g2(Z2)``) on a layer whose activation is softmax: A[2] itself,
        since softmax is not element-wise and derive reads no other argument of it."""
        open_, z, close = self.peek(), self.peek(1), self.peek(2)
        zn = resolve_ident(z.text) if z.kind == "NAME" else None
        if name.prime or open_.text != "(" or close.text != ")" or zn is None \
                or zn.base != "Z" or zn.layer is None or zn.layer[0] != "num" \
                or index not in (None, zn.layer):
            return None
        act = self.b.net.activation(zn.layer[1]) if 1 <= zn.layer[1] <= self.b.net.L else None
        if act is None or act.kind != "softmax" or (name.act or act).kind != "softmax":
            return None
        self.i += 3
        self.b.note(f"{self.b.text[t.start:close.end]} read as A[{zn.layer[1]}] (layer "
                    f"{zn.layer[1]}'s activation is softmax)")
        return [self.placeholder(("sym", Name("sym", "A", zn.layer), zn.layer), t.start,
                                 close.end)], close.end


__all__ = ["BINOPS", "Cursor"]
