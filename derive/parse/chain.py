"""Chained equalities and where-clauses: ``G = \\frac{\\partial L}{\\partial Z} = A - Y``, aligned
chains (``&=``, ``\\\\``, ``\\begin{array}{rcl}``), ``:=``, ``\\equiv``, ``\\leftarrow``, and
``..., where s = ...``.

:func:`links` splits such a text into its links (positions kept, so errors still point into
the text); :func:`is_definition` tells a link that only names a derivative (a chain-rule product
of fractions such as ``\\frac{\\partial L}{\\partial z}\\frac{\\partial z}{\\partial w}``) from a
formula. derive.check.chain checks every link.

>>> c = links(r"dZ^{[2]} = \\frac{\\partial L}{\\partial Z^{[2]}} = A^{[2]} - Y")
>>> [c.text[a:b].strip() for a, b in c.links]
['dZ^{[2]}', '\\\\frac{\\\\partial L}{\\\\partial Z^{[2]}}', 'A^{[2]} - Y']
>>> is_definition(r"\\frac{dL}{dz^{[l]}} \\frac{dz^{[l]}}{dw^{[l]}}"), is_definition("A - Y")
(True, False)
>>> is_definition(r"\\nabla_{\\hat{\\Vy}} L(\\hat{\\Vy},\\Vy)"), is_definition(r"\\nabla_a C \\odot g")
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# what an aligned chain writes around its links: blanked (positions kept)
_LAYOUT = re.compile(r"\\begin\{(?:array|aligned|align\*?|split|eqnarray\*?)\}(?:\{[a-z|]*\})?"
                     r"|\\end\{(?:array|aligned|align\*?|split|eqnarray\*?)\}|\\\\|\\newline"
                     r"|\\tag\{[^{}]*\}|\\nonumber|\\notag|&")
_EQUALS = re.compile(r"\\equiv(?![A-Za-z])|\\leftarrow(?![A-Za-z])|:=")
_WHERE = re.compile(r"(?:[,;]\s*)?(?:\\quad\s*)?(?:\\text\{\s*,?\s*where\s*\}|\bwhere\b|[,;]|\\quad)"
                    r"\s*([A-Za-z]\w*|\\[A-Za-z]+(?:_\{?\w+\}?)?)\s*$")
# a derivative's fraction; \frac{Co}{dw_L}, \frac{z_L}{dw_L} (the numerator's d left out, as a
# Q&A typed every factor of its chain rule)
_FRAC_D = re.compile(r"\\[dt]?frac\s*\{\s*(?:\\partial|d|∂|(?:Co|[CJLE])\s*\}\s*\{\s*(?:d|\\partial)"
                     r"|[A-Za-z](?:_\{?\w+\}?)?\s*\}\s*\{\s*d[A-Za-z])")
# ∇_{W^{[1]}} J, ∇_{\hat{\Vy}} L(\hat{\Vy}, \Vy), Nielsen's ∇_a C: one derivative of the cost
_NABLA = re.compile(r"\\nabla_(?:\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}|\\?[A-Za-z]+)\s*"
                    r"(?:\\mathcal\{[LJC]\}|\\ell|[LJCE])(?![A-Za-z])(?:_\{?\w+\}?)?"
                    r"(?:\s*\((?:[^()]|\([^()]*\))*\))?")
_NAMING = re.compile(r"\\left|\\right|\\bigg?[lr]?|\\Bigg?[lr]?|\\displaystyle|\\[,;:! ]|\\quad"
                     r"|\\qquad|\\(?:text|textrm|operatorname|mathrm)\{prod\}"
                     r"|\\sum_\{[^{}]*\}(?:\^\{[^{}]*\}|\^\w)?|\\sum_\w|\\sum|[\s(),\[\]~.+]|\\cdot")


@dataclass(frozen=True)
class Chain:
    """The text with its layout blanked, each link's span, and where-clauses (name, span)."""

    text: str
    links: tuple[tuple[int, int], ...]
    where: tuple[tuple[str, tuple[int, int]], ...] = ()
    heads: tuple[int, ...] = ()  # links that are a new row's own left side (``\\ \delta^L &= …``)


_COMMENT = re.compile(r"(?<!\\)#[^\n]*")  # a Python comment (# [HxN] * [NxC] = [HxC]): not a link


def _blank(text: str) -> str:
    text = _COMMENT.sub(lambda mt: " " * len(mt.group()), text)
    text = _LAYOUT.sub(lambda mt: " " * len(mt.group()), text)
    return _EQUALS.sub(lambda mt: " " * (len(mt.group()) - 1) + "=", text)


def _equals(text: str) -> list[int]:
    """Top-level '=' positions (not ==, <=, >=, !=, +=, -=, or inside brackets)."""
    depth, out = 0, []
    for i, ch in enumerate(text):
        if ch in "([{" and text[i - 1:i] != "\\":
            depth += 1
        elif ch in ")]}" and text[i - 1:i] != "\\":
            depth -= 1
        elif ch == "=" and depth == 0 and text[i - 1:i] not in ("=", "<", ">", "!", "+", "-",
                                                                  "*", "/", "@", "%") \
                and text[i + 1:i + 2] != "=":
            out.append(i)
    return out


_ROW = re.compile(r"\\\\|\\newline(?![A-Za-z])")  # an aligned block's row break


def _rows(text: str, spans: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """Links cut where a row break is followed by a new row's own left side (text before the
    row's '='): ``… = (a_j - y_j) σ'(z_j) \\\\ \\delta^L &= …`` is a link, then the head
    ``\\delta^L`` of the next row. Returns the links and the heads' indices."""
    breaks = [mt.end() for mt in _ROW.finditer(_COMMENT.sub(lambda mt: " " * len(mt.group()),
                                                            text))]
    out: list[tuple[int, int]] = []
    heads: list[int] = []
    blanked = _blank(text)
    for k, (a, b) in enumerate(spans):
        cut = max((r for r in breaks if a < r < b), default=None) if 0 < k < len(spans) - 1 \
            else None
        if cut is not None and blanked[a:cut].strip() and blanked[cut:b].strip():
            out.append((a, cut))
            heads.append(len(out))
            out.append((cut, b))
        else:
            out.append((a, b))
    return out, heads


def links(text: str) -> Chain:
    """The links of ``text`` (one link: no chain); a where-clause (``..., s = e``) ends the
    chain and defines s; a row of an aligned block with its own left side starts with a head
    (:attr:`Chain.heads`)."""
    blanked = _blank(text)
    cuts = _equals(blanked)
    spans = [(a + 1 if k else 0, b) for k, (a, b) in
             enumerate(zip([-1, *cuts], [*cuts, len(blanked)], strict=True))]
    spans, heads = _rows(text, spans)
    out: list[tuple[int, int]] = []
    where: list[tuple[str, tuple[int, int]]] = []
    k = 0
    while k < len(spans):
        a, b = spans[k]
        mt = _WHERE.search(blanked, a, b) if k + 1 < len(spans) and k > 0 else None
        if mt is not None and mt.start() > a:  # "A - Y, Y = ...": the link ends at the comma
            out.append((a, mt.start()))
            rest = spans[k + 1]
            where.append((mt.group(1), (rest[0], spans[-1][1])))
            break
        out.append((a, b))
        k += 1
    return Chain(blanked, tuple(out), tuple(where), tuple(h for h in heads if h < len(out)))


_OPERATOR = re.compile(r"\s*\\[dt]?frac\s*\{\s*(?:\\partial|d|∂)\s*\}\s*")
_COST = re.compile(r"\s*(?:\\mathcal\{[LJC]\}|\\ell|[LJCE])(?:_\{?\w+\}?)?(?:\s*\(.*\))?\s*")


def is_operator(link: str) -> bool:
    """Whether a link applies the derivative operator to a cost it writes out
    (UFLDL's ``\\frac{\\partial}{\\partial z_i} \\frac{1}{2} \\|y - h(x)\\|^2``): the definition of
    the gradient for that cost, not a formula for it.

    >>> is_operator(r"\\frac{\\partial}{\\partial z^{(3)}} \\frac{1}{2} \\|y - a\\|^2"), is_operator("A - Y")
    (True, False)
    """
    mt = _OPERATOR.match(link)
    if mt is None:
        return False
    rest = link[_after_groups(link, mt.end(), 1):]
    return bool(rest.strip()) and not _COST.fullmatch(rest)


def fractions(link: str) -> int:
    """How many derivative fractions (of ∂ or d) a link writes."""
    return len(_FRAC_D.findall(link)) + len(_NABLA.findall(link))


def is_definition(link: str) -> bool:
    """Whether a link only writes derivatives (fractions of ∂ or d, ``prod(·,·)``), not a
    formula: a chain-rule product is the definition of the gradient, not its value."""
    op = _OPERATOR.match(link)
    if op is not None and _COST.fullmatch(link[_after_groups(link, op.end(), 1):]):
        return True  # \frac{\partial}{\partial Z} J: the operator, then the cost it names
    rest, k, seen = link, 0, False
    out = []
    while k < len(rest):
        nabla = _NABLA.match(rest, k)
        if nabla is not None:
            seen, k = True, nabla.end()
            continue
        mt = _FRAC_D.match(rest, k)
        if mt is None:
            out.append(rest[k])
            k += 1
            continue
        seen = True
        k = _after_groups(rest, rest.index("{", k), 2)
    remainder = _NAMING.sub("", "".join(out))
    return seen and not remainder.strip()


def _after_groups(text: str, k: int, n: int) -> int:
    """The position after ``n`` brace groups, the first opening at ``k``."""
    for _ in range(n):
        while k < len(text) and text[k] in " \t\n":
            k += 1
        if k >= len(text) or text[k] != "{":
            return k
        level = 0
        for j in range(k, len(text)):
            level += (text[j] == "{") - (text[j] == "}")
            if level == 0:
                k = j + 1
                break
        else:
            return len(text)
    return k


_DOTS = re.compile(r"\s*(?:\.\.\.|\\[lc]?dots[bm]?|\\ldots|\\cdots)\s*")
_NUMBERED = re.compile(r"_\{?\s*(\d+|n\s*-\s*1|n)\s*\}?")


def _top_commas(text: str) -> list[str]:
    depth, out, last = 0, [], 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(text[last:i])
            last = i + 1
    return [*out, text[last:]]


def entry_tuple(link: str, used: str) -> tuple[str, str] | None:
    """A link that writes a vector as the tuple of its entries, ``(\\delta_0, \\delta_1, ...,
    \\delta_{n-1})``, each entry the same formula at its index: (that formula with the index a
    letter, the letter), read as an entry's formula; None: not such a tuple (every written
    entry must be the formula at its own index, the ellipses aside)."""
    body = link.strip()
    for dots in (r"\right", r"\left"):
        body = body.replace(dots, "")
    body = body.strip()
    if not (body.startswith("(") and body.endswith(")")):
        return None
    entries = [e for e in _top_commas(body[1:-1]) if e.strip()]
    # an ellipsis may be glued to the next entry (..., 2(a_{n-1}...): split it off
    dotted = any(_DOTS.match(e) for e in entries)
    written = [w for w in (_DOTS.sub("", e, count=1).strip() if _DOTS.match(e) else e.strip()
                           for e in entries) if w]
    letter = next((c for c in "jkuv" if not re.search(rf"(?<![A-Za-z\\]){c}(?![A-Za-z])",
                                                       used)), None)
    if len(written) < 2 or letter is None or not dotted:
        return None
    first = _NUMBERED.findall(written[0])
    if not first or len(set(first)) != 1:
        return None
    numbers = [int(i[0]) for i in (_NUMBERED.findall(e) for e in written) if i and i[0].isdigit()]
    if numbers and numbers != list(range(numbers[0], numbers[0] + len(numbers))):  # 0, 1, …
        return None
    pattern = _NUMBERED.sub(lambda mt: "_{" + letter + "}", written[0])
    for e in written[1:]:
        index = _NUMBERED.findall(e)
        at = pattern.replace("_{" + letter + "}", "_{" + index[0] + "}") if index else ""
        if not index or len(set(index)) != 1 or re.sub(r"\s", "", _NUMBERED.sub(
                lambda mt: "_{" + mt.group(1) + "}", e)) != re.sub(r"\s", "", at):
            return None
    return pattern, letter


__all__ = ["Chain", "entry_tuple", "fractions", "is_definition", "is_operator", "links"]
