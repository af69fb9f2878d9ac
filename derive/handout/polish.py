"""Another feature's LaTeX fragment typeset like the rest of the handout.

The plug-in sections (worked numbers, the Jacobian) come as LaTeX written for a plain report. Here,
in the handout layer, they are polished without changing what they say:

- in each ``aligned`` or ``align*`` display, a first line ``Z = …`` without its ``&`` gets one (no
  staircase), and a line too long for the page is broken after a top-level ``+``, ``-`` or ``\\odot``
  (``\\right.`` and ``\\left.`` close and reopen the brackets around the break);
- ``(`` matrix ``)`` becomes ``\\left( … \\right)``; ``\\text{axis}=all`` gets ``all`` upright;
- numbers in e-notation (``9.1e-11``) become ``9.1 \\times 10^{-11}``; matrix entries keep four
  significant digits;
- plain notation in the text (``W[1]``, ``dZ[1]``, ``X^T``) becomes maths, and a rule id
  ``(rule \\texttt{mean\\_cost})`` a small reference (``[R8]``) into the table of rules used;
- "SymPy" reads "computer algebra".

>>> print(break_long(r"J &= a + \\left(b - c\\right)", width=6))
J &= a + \\left(b\\right. \\\\
  &\\qquad \\left. - c\\right)
>>> sci("$9.1e-11$ and 1e-05")
'$9.1\\\\times 10^{-11}$ and 10^{-5}'
>>> text_maths("J depends on W[1] only through Z[1]")
'J depends on $W^{[1]}$ only through $Z^{[1]}$'
"""

from __future__ import annotations

import re
from collections.abc import Callable

from derive.core.names import latex_name

WIDTH = 58  # characters of maths (roughly) that fit on one display line at 11 pt, A4, 2.2 cm margins

_ENV = re.compile(r"(\\begin\{(aligned|align\*)\})(.*?)(\\end\{\2\})", re.S)
_TOKEN = re.compile(r"\\left[(\[.|]|\\right[)\].|]|\\begin\{[a-z*]+\}|\\end\{[a-z*]+\}|\\[a-zA-Z]+|"
                    r"\\.|[{}]|[^\\{}]")


def _visible(chunk: str) -> int:
    """A rough width: characters left once commands and braces are dropped; a matrix counts as
    its widest row."""
    chunk = re.sub(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}",
                   lambda m: "x" * (2 + max(_visible(r) + 3 * r.count("&")  # column gaps
                                            for r in m[1].split(r"\\"))), chunk, flags=re.S)
    return len(re.sub(r"\\[a-zA-Z]+|[{}^_&\s]", "", chunk))


def break_long(line: str, width: int = WIDTH) -> str:
    """One display line ``lhs &= rhs``, broken after top-level operators when it is wider than
    ``width`` (see the module's docstring)."""
    if _visible(line) <= width or "&" not in line:
        return line
    head, rhs = line.split("&", 1)
    tokens = _TOKEN.findall(rhs)
    out: list[str] = [head + "&"]
    brace = env = 0
    lefts: list[str] = []
    current = ""
    for i, tok in enumerate(tokens):
        if tok == "{":
            brace += 1
        elif tok == "}":
            brace -= 1
        elif tok.startswith(r"\begin{"):
            env += 1
        elif tok.startswith(r"\end{"):
            env -= 1
        elif tok.startswith(r"\left"):
            lefts.append(tok)
        elif tok.startswith(r"\right") and lefts:
            lefts.pop()
        breakable = (brace == 0 and env == 0 and tok in ("+", "-", r"\odot") and i > 2
                     and current.strip() not in ("", "=", "&=") and not current.rstrip().endswith(("(", "=")))
        if breakable and _visible(current) > width * 0.6:
            out.append(current.rstrip() + r"\right." * len(lefts) + r" \\")
            current = "  &\\qquad " + r"\left." * len(lefts) + " "
        current += tok
    out.append(current)
    return "".join(out[:1]) + "\n".join(out[1:]).lstrip()


def _first_amp(line: str) -> str:
    """``Z = W X + b`` → ``Z &= W X + b``: the alignment point on a first line that has none."""
    if "&" in line or " = " not in line:
        return line
    return line.replace(" = ", " &= ", 1)


def displays(tex: str) -> str:
    """Every aligned display's lines aligned at their ``=`` and broken to the page's width."""
    def one(m: re.Match[str]) -> str:
        lines = m[3].split("\\\\\n")
        fixed = [break_long(_first_amp(line)) for line in lines]
        return m[1] + "\\\\\n".join(fixed) + m[4]
    return _ENV.sub(one, tex)


def digits(tex: str, significant: int = 4) -> str:
    r"""Matrix entries to ``significant`` digits (``0.00801679`` → ``0.008017``), and
    ``7.8733 \cdot 10^{-17}`` as ``7.873\times 10^{-17}``: a worked example is read, not recomputed."""
    def entry(m: re.Match[str]) -> str:
        return f"{float(m[0]):.{significant}g}"

    def matrix(m: re.Match[str]) -> str:
        body = re.sub(r"(?<![\w.{^])-?\d+\.\d+", entry, m[0])
        return body.replace(r" \cdot 10^", r"\times 10^")
    return re.sub(r"\\begin\{bmatrix\}.*?\\end\{bmatrix\}", matrix, tex, flags=re.S)


def brackets(tex: str) -> str:
    r"""``f(\begin{bmatrix}…\end{bmatrix})`` → ``f\left(…\right)``; ``\text{axis}=all`` upright."""
    tex = re.sub(r"(?<!\\left)\((\\begin\{bmatrix\}.*?\\end\{bmatrix\})\)", r"\\left(\1\\right)", tex,
                 flags=re.S)
    return tex.replace(r"\text{axis}=all}", r"\text{axis}=\text{all}}")


def sci(tex: str) -> str:
    """Numbers in e-notation as ``a \\times 10^{k}`` (``10^{k}`` when a is 1)."""
    def one(m: re.Match[str]) -> str:
        mant, exp = m[1], int(m[2])
        return f"10^{{{exp}}}" if float(mant) == 1 else rf"{mant}\times 10^{{{exp}}}"
    return re.sub(r"(?<![\w.])(\d+(?:\.\d+)?)e([-+]?\d+)\b", one, tex)


_MATH_SPAN = re.compile(r"\$[^$]*\$|\\\[.*?\\\]|\\begin\{(align\*?|aligned|tikzpicture|tabular|bmatrix)\}"
                        r".*?\\end\{\1\}|\\ensuremath\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}|\\[a-zA-Z]+", re.S)
_PLAIN = re.compile(r"\b(d?[A-Z]|d[A-Z]\w?)\[(\d+)\](\$\^\{\\top\}\$)?")


def text_maths(tex: str) -> str:
    """Plain notation in the text parts of ``tex`` (``W[1]``, ``dZ[1]``) as inline maths."""
    out, pos = [], 0
    for m in _MATH_SPAN.finditer(tex):
        out.append(_PLAIN.sub(_sym, tex[pos:m.start()]))
        out.append(m[0])
        pos = m.end()
    out.append(_PLAIN.sub(_sym, tex[pos:]))
    return "".join(out).replace("$$", "{}")  # two adjacent maths spans become one


def _sym(m: re.Match[str]) -> str:
    name = latex_name(m[1], int(m[2]))
    if m[3]:
        name = name[:-1] + r"\top}" if name.endswith("]}") else name + r"^{\top}"
    return f"${name}$"


def rule_refs(tex: str, ref: Callable[[str], str]) -> str:
    r"""``(rule \texttt{mean\_cost})`` → a small reference ``ref("mean_cost")`` set flush right."""
    return re.sub(r"\s*\(rule \\texttt\{([^}]*)\}\)",
                  lambda m: rf"\hfill{{\scriptsize\textsf{{[{ref(m[1].replace(chr(92), ''))}]}}}}",
                  tex)


def polish(tex: str, ref: Callable[[str], str]) -> str:
    """All of the above, in order (see the module's docstring)."""
    tex = tex.replace("(SymPy)", "(computer algebra)").replace("SymPy", "computer algebra")
    return text_maths(rule_refs(sci(brackets(displays(digits(tex)))), ref))
