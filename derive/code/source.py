"""A code snippet into a checked Python ``ast``: bounded, pre-scanned, whitelisted, never run.

The snippet is untrusted text. Before :func:`ast.parse` sees it (CPython's parser can crash on
deep nesting), its size and line count are bounded and a tokenizer pass measures the nesting of
brackets and of indented blocks; the tree is then walked iteratively and every node type checked
against a whitelist. Nothing is compiled or executed: the tree is only read (:mod:`.reader`).

Comments are blanked (replaced by spaces, so every column stays where it was) so that the source
text of an expression, which :mod:`derive.parse` reads, carries none.

>>> src = read_source("def f(dZ, cache):\\n    A_prev, W, b = cache  # unpack\\n    return dZ\\n")
>>> [type(s).__name__ for s in src.tree.body], src.segment(src.tree.body[0].body[1].value)
(['FunctionDef'], 'dZ')
>>> read_source("x = " + "(" * 60 + "1" + ")" * 60)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
derive.errors.ResourceLimit: the code's brackets and blocks needs 41 levels, over the limit ...
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize
from collections import deque
from dataclasses import dataclass

from derive.errors import ParseError
from derive.limits import Limit, require

LENGTH = Limit("code.length", 100_000, "characters", "a shorter snippet",
               "one code snippet (derive check --code)")
LINES = Limit("code.lines", 2_000, "lines", "a shorter snippet", "the lines of one code snippet")
DEPTH = Limit("code.depth", 40, "levels", "fewer nested brackets or blocks",
              "the nesting of brackets and indented blocks of a snippet, measured before it is "
              "parsed")

# node types a snippet may contain; anything else is refused with its line
ALLOWED: tuple[type, ...] = (
    ast.Module, ast.FunctionDef, ast.ClassDef, ast.arguments, ast.arg, ast.keyword,
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.If, ast.For, ast.Pass,
    ast.Break, ast.Continue, ast.Assert, ast.Import, ast.ImportFrom, ast.alias,
    ast.Raise,  # read only where it runs (an error there); its exception is never evaluated
    ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List,
    ast.Dict, ast.Call, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Starred,
    ast.ListComp, ast.comprehension, ast.Load, ast.Store, ast.Del,
    ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)
REFUSED = {  # a clear word for the common ones
    ast.While: "a while loop", ast.With: "a with block", ast.Try: "a try block",
    ast.Lambda: "a lambda", ast.AsyncFunctionDef: "an async function", ast.Global: "global",
    ast.Nonlocal: "nonlocal", ast.Delete: "del", ast.Yield: "yield",
    ast.YieldFrom: "yield from", ast.Await: "await", ast.NamedExpr: "the := operator",
    ast.GeneratorExp: "a generator expression", ast.DictComp: "a dict comprehension",
    ast.SetComp: "a set comprehension", ast.JoinedStr: "an f-string", ast.Set: "a set",
}


@dataclass(frozen=True)
class Source:
    """The snippet as read: its text (comments blanked, dedented), its lines and its tree."""

    text: str
    tree: ast.Module
    offsets: tuple[int, ...]  # offset of each line's start in ``text`` (line 1 at index 0)
    refused: tuple[str, ...] = ()  # the functions (or lines) left out, and why

    def offset(self, line: int, col: int) -> int:
        """The offset in ``text`` of a node position (``col`` as ast gives it: UTF-8 bytes)."""
        start = self.offsets[line - 1]
        here = self.text[start:].split("\n", 1)[0]
        return start + len(here.encode("utf-8")[:col].decode("utf-8", "replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        n = node  # every expression node has positions (ast.parse sets them)
        return (self.offset(n.lineno, n.col_offset),  # type: ignore[attr-defined]
                self.offset(n.end_lineno, n.end_col_offset))  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        """The node's text on one line: line breaks (and ``\\`` continuations) are spaces."""
        a, b = self.span(node)
        return one_line(self.text[a:b])


def one_line(text: str) -> str:
    return text.replace("\\\n", "  ").replace("\r", " ").replace("\n", " ").strip()


def read_source(code: object) -> Source:
    """The snippet checked, bounded and parsed; a :class:`ParseError` names the line."""
    if not isinstance(code, str):
        raise ParseError("the code must be a string", None, None)
    require(LENGTH, len(code), "this snippet")
    code = code.replace("\r\n", "\n").replace("\t", "    ").removeprefix("\ufeff")
    require(LINES, code.count("\n") + 1, "this snippet")
    if not code.strip():
        raise ParseError("the code is empty", 0, code)
    if "\x00" in code:
        raise ParseError(f"line {code[:code.index(chr(0))].count(chr(10)) + 1}: the code "
                         "contains a NUL character", None, None)
    code = _pasted_body(textwrap.dedent(code))
    text = _blank_comments(code)
    try:
        tree = ast.parse(text, mode="exec", type_comments=False)
    except SyntaxError as exc:
        raise ParseError(f"line {exc.lineno}: this is not Python code that derive can read "
                         f"({exc.msg})", None, None) from None
    except (RecursionError, MemoryError, ValueError):
        raise ParseError("the code nests too deeply to read", None, None) from None
    refused = _whitelist(tree)
    starts, pos = [0], 0
    for line in text.split("\n")[:-1]:
        pos += len(line) + 1
        starts.append(pos)
    return Source(text, tree, tuple(starts), refused)


def _pasted_body(code: str) -> str:
    """A function body pasted with its first line flush and the rest still indented (``a, b =
    cache`` then the body at four spaces, as a forum post shows it): the rest dedented, when
    that alone makes it Python; else the code as given."""
    first, _, rest = code.partition("\n")
    if not rest.strip() or first[:1].isspace() or first.rstrip().endswith((":", "\\")):
        return code
    try:
        ast.parse(code)
        return code
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        pass
    fixed = f"{first}\n{textwrap.dedent(rest)}"
    try:
        ast.parse(fixed)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return code
    return fixed


def _blank_comments(code: str) -> str:
    """The code with its comments replaced by spaces, after measuring the nesting of brackets
    and blocks with the tokenizer (which is iterative, unlike the parser)."""
    lines = code.split("\n")
    depth = blocks = 0
    comments: list[tuple[int, int, int]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
                require(DEPTH, depth + blocks, "the code's brackets and blocks")
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
            elif tok.type == tokenize.INDENT:
                blocks += 1
                require(DEPTH, depth + blocks, "the code's brackets and blocks")
            elif tok.type == tokenize.DEDENT:
                blocks -= 1
            elif tok.type == tokenize.COMMENT:
                (row, col), (_, end) = tok.start, tok.end
                comments.append((row, col, end))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        line = getattr(exc, "lineno", None) or (exc.args[1][0] if len(exc.args) > 1 else "?")
        raise ParseError(f"line {line}: this is not Python code that derive can read "
                         f"({exc.args[0]})", None, None) from None
    for row, col, end in comments:
        text = lines[row - 1]
        lines[row - 1] = text[:col] + " " * (end - col) + text[end:]
    return "\n".join(lines)


def _whitelist(tree: ast.Module) -> tuple[str, ...]:
    """Every node of an allowed type (walked with a queue, not recursion). A function (or a
    method, or a loose statement) holding a refused construct is left out of the tree, and its
    refusal returned, so the rest of the code is still read; all of it refused is an error."""
    refused: list[str] = []

    def keep(nodes: list[ast.stmt]) -> list[ast.stmt]:
        kept = []
        for n in nodes:
            message = _refusal(n, skip_body=isinstance(n, ast.ClassDef))
            if message:
                refused.append(message)
                continue
            if isinstance(n, ast.ClassDef):
                n.body = keep(n.body) or [ast.Pass(lineno=n.lineno, col_offset=n.col_offset)]
            kept.append(n)
        return kept

    tree.body = keep(tree.body)
    if refused and not any(not isinstance(n, ast.Import | ast.ImportFrom) for n in tree.body):
        raise ParseError(refused[0], None, None)
    return tuple(refused)


def _refusal(top: ast.AST, skip_body: bool = False) -> str | None:
    """Why ``top`` cannot be read (its first construct outside :data:`ALLOWED`), or None."""
    queue: deque[ast.AST] = deque([top])
    while queue:
        node = queue.popleft()
        if not isinstance(node, ALLOWED):
            what = REFUSED.get(type(node), f"the construct {type(node).__name__}")
            line = getattr(node, "lineno", None)
            where = f" (in {top.name}, left out)" if isinstance(
                top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else ""
            return (f"line {line}: {what} is not read by derive (it reads assignments, "
                    f"if/for blocks, calls and returns){where}")
        children = [] if isinstance(node, ast.Raise) else list(ast.iter_child_nodes(node))
        if node is top and skip_body and isinstance(node, ast.ClassDef):
            children = [c for c in children if c not in node.body]
        queue.extend(children)
    return None


__all__ = ["DEPTH", "LENGTH", "LINES", "Source", "one_line", "read_source"]
