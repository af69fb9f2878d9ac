"""The token cursor both formula readers share: the LaTeX parser (derive.parse.latex_tokens)
and the text pre-pass (derive.parse.text_math) walk a list of tokens ending in one end token,
with the same peek, next, expect and error.

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> from derive.parse.latex_tokens import tokenize
>>> c = TokenCursor(Builder(Network(layers=[2, 1]), "dZ1 + A1"), tokenize("dZ1 + A1", 0, 8))
>>> c.next().text, c.next().text, c.expect("+").text, c.peek(5).kind
('dZ', '1', '+', 'end')
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from derive.errors import ParseError
from derive.parse.build import Builder


class Token(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> int: ...


T = TypeVar("T", bound=Token)


class TokenCursor(Generic[T]):
    """Tokens (the last one the end token, which the cursor never passes) and a position."""

    END = "end"  # the end token's kind

    def __init__(self, b: Builder, toks: list[T]):
        self.b, self.toks, self.i = b, toks, 0

    def peek(self, k: int = 0) -> T:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> T:
        t = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def err(self, message: str, t: T) -> ParseError:
        return ParseError(message, t.start, self.b.text)

    def expect(self, text: str) -> T:
        t = self.next()
        if t.text != text or t.kind == self.END:
            raise self.err(f"expected {text!r} here", t)
        return t


__all__ = ["Token", "TokenCursor"]
