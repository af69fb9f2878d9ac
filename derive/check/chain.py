"""Checking a chained equality link by link (issue 13, item 5).

``dZ^{[2]} = \\frac{\\partial \\mathcal{L}}{\\partial Z^{[2]}} = A^{[2]} - Y``: the left side
names the gradient; each further link is either a *definition* (it only writes derivatives: a
``\\frac{\\partial …}`` that must name the same gradient, or a chain-rule product of fractions,
which is not evaluated) or a *formula*, checked for value exactly as ``G = formula`` alone would
be. The chain is correct when every formula link is, and wrong at its first wrong link, which the
message names. A where-clause (``…, where s = e``) defines the local name s as the formula e (a
binding, read by derive's parser); one that restates a quantity of the network (``Y = [y⁽¹⁾ …]``)
is noted and not read. Each link keeps its positions in the text, so errors point into it.

>>> from derive.check.checker import check
>>> from derive.network.spec import Network
>>> net = Network(layers=[3, 4, 1], activations=["tanh", "sigmoid"], loss="bce")
>>> v = check(r"dZ^{[2]} = \\frac{\\partial L}{\\partial Z^{[2]}} = A^{[2]} - Y", net)
>>> v.verdict, v.notes[0]
('correct', 'chain: link 1 (\\\\frac{\\\\partial L}{\\\\partial Z^{[2]}}) names dZ[2], the same gradient')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from derive.check.verdict import Verdict
from derive.parse.chain import Chain, entry_tuple, fractions, is_definition, is_operator, links
from derive.parse.names import resolve_ident

CheckOne = Callable[[str, Mapping[str, str]], Verdict]  # one equation, extra bindings -> Verdict
# the checker's words for G = (a formula using G): the link names the left side's gradient
_ITSELF = re.compile(r"the right side uses (\S+), which is computed from (\S+?):")
_RUNNING = re.compile(r"\s*(?:\\Vg|\\mathbf\{g\}|\\bm\{g\}|\\boldsymbol\{g\}|g)\s*")
_OWN = re.compile(r"(dA\[\d+\]) is the loss's own gradient")  # a generic loss's dA[L]
_LOCAL = re.compile(r"\\delta\s*(?:_\{?\w+\}?|\^\{?\(?\w+\)?\}?)*\s*")  # = \delta_1 at the end


def left_side(text: str) -> str | None:
    """The text before the first top-level '=' (not part of ==, <=, >=, !=; ``dW += …``: before
    the ``+``)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "=" and depth == 0 and text[i - 1:i] not in ("=", "<", ">", "!") \
                and text[i + 1:i + 2] != "=":
            return text[:i - 1] if text[i - 1:i] in ("+", "-") else text[:i]  # dW += ...
    return None


def _single(c: Chain, k: int, head: int = 0) -> str:
    """The chain's text with only its left side (link ``head``: 0, or a row's own), the '='
    after it and link k kept (positions kept)."""
    lhs_start, lhs_end = c.links[head]
    a, b = c.links[k]
    return "".join(ch if lhs_start <= i <= lhs_end or a <= i < b else " "
                   for i, ch in enumerate(c.text))


def _running(c: Chain) -> str | None:
    """The chain with its left side blanked when that side is the Deep Learning book's running
    gradient assigned (``\\Vg \\leftarrow \\nabla_{\\Va^{(k)}} J = …``): the next link names
    the gradient, and is the left side checked."""
    if len(c.links) < 3 or not _RUNNING.fullmatch(c.text[slice(*c.links[0])]):
        return None
    return " " * c.links[1][0] + c.text[c.links[1][0]:]


def _named(text: str, check_one: CheckOne) -> str | None:
    """The gradient ``text`` names when it is read as a left side (``\\nabla_{\\hat{y}} L``:
    dA[2])."""
    v = check_one(f"{text} = 0", {})
    own = _OWN.match(v.message)
    if v.target or own:
        return v.target or (own.group(1) if own else None)
    same = _ITSELF.search(check_one(f"{text} = {text}", {}).message)  # an entry: δ^L_j
    return same.group(1) if same and same.group(1) == same.group(2) else None


# the bias trick: [1\ H]^T E, the input with a leading 1 (the bias folded into W as its first row)
_FOLDED = re.compile(r"\[\s*1\s*(?:\\[ ,;]|,|~)\s*([^\[\]]+?)\s*\]\s*\^\s*\{?\s*(?:T|\\top)\s*\}?")


def _folded(link: str, lhs: str, check_one: CheckOne, extra: Mapping[str, str]) -> Verdict | None:
    """A link ``[1\\ H]^T E`` of a weight whose bias is folded in as its first row (the input
    with a leading 1): [1ᵀ E; Hᵀ E], checked as db = 𝟙ᵀ E and dW = Hᵀ E; None: not such a
    link."""
    if len(_FOLDED.findall(link)) != 1:
        return None
    target = _named(lhs, check_one)
    mt = re.fullmatch(r"dW\[(\d+)\]", target or "")
    if mt is None:
        return None
    layer = mt.group(1)
    parts = [(f"db^{{[{layer}]}}", _FOLDED.sub(lambda _: r"\mathbf{1}^T", link)),
             (f"dW^{{[{layer}]}}", _FOLDED.sub(lambda f: f"({f.group(1)})^T", link))]
    verdicts = [check_one(f"{g} = {e}", extra) for g, e in parts]
    said = (f"{link}: the bias folded into the weights as their first row ([1 H] is the input "
            "with a leading 1): checked as db = 𝟙ᵀ(...) and dW = Hᵀ(...)")
    for v in verdicts:
        if v.verdict != "correct":
            return replace(v, notes=(said, *v.notes))
    return replace(verdicts[1], notes=(said, *verdicts[0].notes, *verdicts[1].notes),
                   message=f"{verdicts[1].target} and {verdicts[0].target}: correct (the bias "
                           "row and the weights)")


def check_chain(equation: str, check_one: CheckOne, least: int = 3) -> Verdict | None:
    """The chain's verdict, or None when ``equation`` is a single equation (fewer than ``least``
    links)."""
    c = links(equation)
    if _FOLDED.search(equation):
        least = 2
    shorter = _running(c)
    if shorter is not None:
        v = check_chain(shorter, check_one, least=2) or check_one(shorter, {})
        return replace(v, notes=("chain: the running gradient g on the left is assigned the "
                                 "gradient the next link names, checked as that gradient",
                                 *v.notes))
    if len(c.links) < least and not c.where:  # one equation; its layout (&, \\, :=) blanked
        return check_one(c.text, {}) if c.text != equation else None
    notes: list[str] = []
    extra: dict[str, str] = {}
    for name, (a, b) in c.where:
        value = c.text[a:b].strip()
        known = resolve_ident(name)
        if known is not None and known.kind == "sym":
            notes.append(f"where-clause {name} = … restates {name}, a quantity of the network: "
                         "not read")
        else:
            extra[name.lstrip("\\")] = value
            notes.append(f"where-clause: {name} read as {value}")
    formulas: list[tuple[int, str, Verdict]] = []
    named: list[str] = []  # the gradients definition links name (the left side's)
    last = len(c.links) - 1
    head = 0  # the left side the links are checked against: the chain's, or a row's own
    for k in range(1, len(c.links)):
        a, b = c.links[k]
        link = c.text[a:b].strip()
        if k in c.heads:  # a new row's own left side: it must name the same gradient
            lhs = c.text[slice(*c.links[0])].strip()
            gradient = _named(link, check_one)
            if gradient is None or gradient != _named(lhs, check_one):
                return Verdict("parse_error", notes=tuple(notes), message=(
                    f"row {link} = … of the chain names {gradient or 'no gradient'}, not the "
                    f"left side's: check each equation on its own"))
            notes.append(f"chain: a new row's left side {link} names {gradient}, the same "
                         "gradient")
            head = k
            continue
        if k == last and k > 1 and _LOCAL.fullmatch(link):
            notes.append(f"chain: the last link {link} names the value (a local name), not read")
            continue
        single = _single(c, k, head)
        tup = entry_tuple(link, equation)
        if tup is not None:  # (δ_0, δ_1, ..., δ_{n-1}): the entry j's formula
            link, letter = tup
            single = f"{c.text[slice(*c.links[head])].strip()}_{{{letter}}} = {link}"
            notes.append(f"chain: link {k} writes the vector as the tuple of its entries: read "
                         f"as entry {letter}, {link}")
        if is_operator(link) and k < last:
            notes.append(f"chain: link {k} ({link}) differentiates the cost as written, a "
                         "definition: not evaluated")
            continue
        folded = _folded(link, c.text[slice(*c.links[head])].strip(), check_one, extra)
        if folded is not None:
            formulas.append((k, link, folded))
            continue
        verdict = check_one(single, extra) if not (
            is_definition(link) and fractions(link) > 1) else Verdict("parse_error")
        if is_definition(link) and fractions(link) == 1:  # names one gradient: the same?
            same = _ITSELF.search(verdict.message)
            if verdict.verdict == "parse_error" and same and same.group(1) == same.group(2):
                named.append(same.group(1))
                notes.append(f"chain: link {k} ({link}) names {same.group(1)}, the same "
                             "gradient")
                continue
            lhs = c.text[slice(*c.links[0])].strip()
            gradient = _named(link, check_one) if verdict.verdict == "parse_error" else None
            if gradient is not None and gradient == _named(lhs, check_one):
                named.append(gradient)
                notes.append(f"chain: link {k} ({link}) names {gradient}, the same gradient")
                continue
        elif is_definition(link):
            notes.append(f"chain: link {k} ({link}) is a chain-rule product of derivatives, "
                         "a definition: not evaluated")
            continue
        elif tup is not None and verdict.verdict == "parse_error" and _ITSELF.search(
                verdict.message):  # (δ_0, ..., δ_{n-1}): the entries of the gradient itself
            gradient = _named(link, check_one)
            if gradient is not None and gradient == _named(
                    c.text[slice(*c.links[head])].strip(), check_one):
                named.append(gradient)
                notes.append(f"chain: link {k} ({link}) names {gradient}, the same gradient")
                continue
        formulas.append((k, link, verdict))
    if not formulas and named:  # every link names the left side's gradient: true as written
        return Verdict("correct", target=named[0], notes=tuple(notes), message=(
            f"{named[0]}: correct (every link of the chain names {named[0]}; no link computes "
            "its value)"))
    if not formulas:
        return Verdict("parse_error", message="no link of the chain is a formula to check: "
                       "write the gradient's value after the last '='", notes=tuple(notes))
    for k, link, v in formulas:
        if v.verdict != "correct":
            said = f"link {k} of the chain ({link}): {v.message}"
            return replace(v, message=said, notes=(*notes, *v.notes))
    k, link, v = formulas[-1]
    checked = ", ".join(str(k) for k, _, _ in formulas)
    notes.append(f"chain: every formula link is correct (link{'s' if len(formulas) > 1 else ''}"
                 f" {checked})")
    return replace(v, message=f"{v.target}: correct (every link of the chain)",
                   notes=(*notes, *v.notes))


__all__ = ["check_chain", "left_side"]
