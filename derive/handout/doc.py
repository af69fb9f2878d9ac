"""A handout as a small document tree, rendered to LaTeX or Markdown, with text always escaped.

Sections of a handout are lists of blocks: :class:`Heading`, :class:`Para`, :class:`Display`
(aligned equations), :class:`Table`, :class:`Items` and :class:`Raw` (a LaTeX fragment, e.g. a TikZ
drawing or another feature's section). Inline parts are plain ``str`` (user or catalogue text:
escaped, Unicode mapped to LaTeX), :class:`M` (LaTeX maths made by the engine's printers) and
:class:`Blank` (an exercise: a numbered gap in the worksheet, the boxed answer in the key).

>>> doc = [Heading(1, "Why $x$ & {y}"), Para(("see ", M(r"W^{[2]\\top}"), " ⊙ σ′"))]
>>> print(render_tex_body(doc, key=False))
\\section{Why \\$x\\$ \\& \\{y\\}}
<BLANKLINE>
see $W^{[2]\\top}$ \\ensuremath{\\odot} \\ensuremath{\\sigma}\\ensuremath{{}^{\\prime}}
<BLANKLINE>
>>> tex_text(r"\\input{/etc/passwd}")
'\\\\textbackslash{}input\\\\{/etc/passwd\\\\}'
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from derive.render.latex import escape


# -- the tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class M:
    """Inline maths: LaTeX produced by the engine (never user text)."""

    latex: str


@dataclass(frozen=True)
class Blank:
    """A gap numbered ``number`` whose answer is the LaTeX maths ``answer``."""

    number: int
    answer: str
    shown: str = ""  # the answer as the key shows it, broken over lines (default: ``answer``)


@dataclass(frozen=True)
class Ref:
    """A small reference set flush right (a rule's number in the table of rules used)."""

    label: str


Part = str | M | Blank | Ref  # an inline part: text (escaped), maths, or a numbered gap
Parts = tuple[Part, ...]


@dataclass(frozen=True)
class Heading:
    level: int  # 1 section, 2 subsection, 3 run-in paragraph heading
    text: str


@dataclass(frozen=True)
class Para:
    parts: Parts


@dataclass(frozen=True)
class Row:
    """One line of a display: ``lhs = rhs`` (rhs may be a Blank), with an optional note (parts)."""

    lhs: str
    rhs: str | Blank  # LaTeX, or a gap whose answer is the LaTeX
    note: Parts = ()
    rel: str = "="


@dataclass(frozen=True)
class Display:
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Boxed:
    """A display of results framed in one box (a layer's gradients)."""

    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str | M, ...]  # text, or maths
    rows: tuple[tuple[Parts, ...], ...]  # each cell is a tuple of parts
    align: str  # LaTeX column spec such as "lll"


@dataclass(frozen=True)
class Items:
    items: tuple[Parts, ...]  # each item is a tuple of parts


@dataclass(frozen=True)
class Raw:
    """A LaTeX fragment (trusted: made by this package); ``md`` is its Markdown form, if any."""

    tex: str
    md: str | None = None


Block = Heading | Para | Display | Boxed | Table | Items | Raw


# -- LaTeX text escaping -------------------------------------------------------------------------
_MATH_CHARS = {
    "σ": r"\sigma", "ℓ": r"\ell", "Σ": r"\Sigma", "⊙": r"\odot", "⊘": r"\oslash", "′": r"{}^{\prime}",
    "ᵀ": r"{}^{\top}", "−": "-", "×": r"\times", "⇒": r"\Rightarrow", "→": r"\to", "∂": r"\partial",
    "δ": r"\delta", "𝟙": r"\mathbf{1}", "…": r"\dots", "≈": r"\approx", "≤": r"\le", "≥": r"\ge",
    "≠": r"\ne", "·": r"\cdot", "ε": r"\varepsilon", "η": r"\eta", "‖": r"\|", "∈": r"\in",
    "λ": r"\lambda", "α": r"\alpha", "β": r"\beta", "θ": r"\theta", "μ": r"\mu", "π": r"\pi",
    "ₜ": "_{t}", "ᵢ": "_{i}", "ⱼ": "_{j}", "ₖ": "_{k}", "ₗ": "_{l}", "ₘ": "_{m}", "ₙ": "_{n}",
    "²": "^{2}", "³": "^{3}", "√": r"\surd", "∑": r"\sum", "∞": r"\infty", "±": r"\pm",
}
_MATH_CHARS.update({chr(0x2080 + d): f"_{{{d}}}" for d in range(10)})
_TEXT_CHARS = {"—": "---", "–": "--", "“": "``", "”": "''", "‘": "`", "’": "'", "\u00a0": "~",
               "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_ACCENTS = {"\u0301": "'", "\u0300": "`", "\u0302": "^", "\u0308": '"', "\u0303": "~",
            "\u0327": "c", "\u030a": "r", "\u030c": "v"}


def tex_text(text: str) -> str:
    """Plain text (a user's title, a catalogue note) as LaTeX that cannot run a command.

    The LaTeX specials are escaped (:func:`derive.render.latex.escape`); known Unicode symbols
    become maths (σ → ``\\ensuremath{\\sigma}``), accented Latin letters LaTeX accents, and any
    other character outside ASCII a ``?`` (pdflatex would stop on it). The result is ASCII.
    """
    out = []
    for ch in escape(str(text)):
        if ch in _TEXT_CHARS:
            out.append(_TEXT_CHARS[ch])
        elif ch.isascii():
            out.append(ch if ch.isprintable() or ch in "\n\t" else "?")
        elif ch in _MATH_CHARS:
            out.append(rf"\ensuremath{{{_MATH_CHARS[ch]}}}")
        else:
            out.append(_accented(ch))
    return "".join(out)


def _accented(ch: str) -> str:
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    if base.isascii() and base.isalpha() and len(marks) == 1 and marks[0] in _ACCENTS:
        return rf"\{_ACCENTS[marks[0]]}{{{base}}}"
    return "?"


def ascii_fragment(tex: str) -> str:
    """Another feature's LaTeX fragment made safe for pdflatex: each non-ASCII character becomes
    its LaTeX form (σ → ``\\ensuremath{\\sigma}``, works in text and in maths) or ``?``."""
    out = []
    for ch in tex:
        if ch.isascii():
            out.append(ch)
        elif ch in _MATH_CHARS:
            out.append(rf"\ensuremath{{{_MATH_CHARS[ch]}}}")
        elif ch in _TEXT_CHARS:
            out.append(_TEXT_CHARS[ch])
        else:
            out.append(_accented(ch))
    return "".join(out)


def md_text(text: str) -> str:
    """Plain text for Markdown: specials escaped, so ``$`` cannot open maths nor ``<`` HTML."""
    out = []
    for ch in str(text):
        if ch in "\\`*_{}[]<>#|$":
            out.append({"<": "&lt;", ">": "&gt;"}.get(ch, "\\" + ch))
        else:
            out.append(ch)
    return "".join(out).replace("\n", " ")


# -- LaTeX ----------------------------------------------------------------------------------------
def _parts_tex(parts: Parts, key: bool, math: bool = False) -> str:
    out = []
    for p in parts:
        if isinstance(p, M):
            out.append(p.latex if math else f"${p.latex}$")
        elif isinstance(p, Blank):
            out.append(_blank_tex(p, key, math))
        elif isinstance(p, Ref):
            ref = rf"{{\scriptsize\textsf{{[{tex_text(p.label)}]}}}}"
            # in a display row (after &&) the reference is text: \scriptsize is no maths command
            out.append(rf"\text{{{ref}}}" if math else rf"\hfill{ref}")
        else:
            s = tex_text(p)
            out.append(rf"\text{{{s}}}" if math else s)
    return "".join(out)


def _blank_tex(b: Blank, key: bool, math: bool) -> str:
    if key:
        shown = b.shown or b.answer
        if r"\\" in shown:  # broken over lines: an aligned block inside the box
            shown = rf"\begin{{aligned}}&{shown}\end{{aligned}}"
        inner = rf"\boxed{{{shown}}}_{{\,({b.number})}}"
        return inner if math else f"${inner}$"
    return rf"\text{{\blank{{{b.number}}}}}" if math else rf"\blank{{{b.number}}}"


_SECTION = {1: "section", 2: "subsection", 3: "paragraph"}


def _block_tex(block: Block, key: bool) -> str:
    if isinstance(block, Heading):
        return rf"\{_SECTION[block.level]}{{{tex_text(block.text)}}}"
    if isinstance(block, Para):
        return _parts_tex(block.parts, key)
    if isinstance(block, Display):
        lines = []
        for r in block.rows:
            rhs = _blank_tex(r.rhs, key, True) if isinstance(r.rhs, Blank) else r.rhs
            note = rf" && {_parts_tex(r.note, key, math=True)}" if r.note else ""
            lhs = f"{r.lhs} &{r.rel} " if r.lhs or r.rel else "& "
            lines.append(f"  {lhs}{rhs}{note}")
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"
    if isinstance(block, Boxed):
        lines = [f"  {r.lhs} &{r.rel} " + (_blank_tex(r.rhs, key, True) if isinstance(r.rhs, Blank)
                                           else r.rhs) for r in block.rows]
        return ("\\[\\boxed{\\begin{aligned}\n" + " \\\\\n".join(lines)
                + "\n\\end{aligned}}\\]")
    if isinstance(block, Table):
        head = " & ".join(f"${h.latex}$" if isinstance(h, M) else rf"\textbf{{{tex_text(h)}}}"
                          for h in block.header)
        body = "\n".join(" & ".join(_parts_tex(c, key) for c in row) + r" \\" for row in block.rows)
        body = body.replace(r"\blank{", r"\cellblank{")  # a shorter gap in a table's cell
        return (f"{{\\small\\setlength{{\\tabcolsep}}{{4pt}}\n"
                f"\\begin{{longtable}}{{{block.align}}}\n\\toprule\n{head} \\\\\n\\midrule\n"
                f"\\endhead\n{body}\n\\bottomrule\n\\end{{longtable}}}}")
    if isinstance(block, Items):
        items = "\n".join(rf"  \item {_parts_tex(i, key)}" for i in block.items)
        return f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}"
    if isinstance(block, Raw):
        return block.tex
    raise TypeError(type(block).__name__)


def render_tex_body(blocks: Sequence[Block], key: bool) -> str:
    """The blocks as LaTeX (no preamble); ``key`` shows the answers of the blanks."""
    return "\n\n".join(_block_tex(b, key) for b in blocks) + "\n"


PACKAGES = ("amsmath", "amssymb", "array", "booktabs", "longtable", "xcolor", "tikz", "graphicx")
PREAMBLE = r"""\documentclass[11pt,a4paper]{article}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{array,booktabs,longtable}
\usepackage{xcolor}
\usepackage{tikz}
\usetikzlibrary{positioning}
\usepackage{graphicx}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6ex plus 0.3ex}
\setcounter{secnumdepth}{2}
\newcommand{\blank}[1]{\underline{\hspace{4.5cm}}\,{\scriptsize(#1)}}
\newcommand{\cellblank}[1]{\underline{\hspace{2.2cm}}\,{\scriptsize(#1)}}
"""


def render_tex(blocks: Sequence[Block], title: str, subtitle: str, key: bool) -> str:
    """A standalone LaTeX document (pdflatex; packages from texlive-latex-base/-recommended and
    texlive-pictures only). Always ASCII."""
    head = (rf"{{\centering{{\LARGE\bfseries {tex_text(title)}\par}}\vspace{{0.6ex}}"
            rf"{{\small {tex_text(subtitle)}\par}}}}")
    doc = PREAMBLE + "\\begin{document}\n" + head + "\n\n" + render_tex_body(blocks, key) + "\n"
    doc += "\\end{document}\n"
    return "".join(ch if ch.isascii() else "?" for ch in doc)


# -- Markdown -------------------------------------------------------------------------------------
def _parts_md(parts: Parts, key: bool) -> str:
    out = []
    for p in parts:
        if isinstance(p, M):
            out.append(f"${p.latex}$")
        elif isinstance(p, Ref):
            out.append(f" [{md_text(p.label)}]")
        elif isinstance(p, Blank):
            out.append(f"$\\boxed{{{p.answer}}}$ **({p.number})**" if key else
                       f"\\_\\_\\_\\_\\_\\_\\_\\_ **({p.number})**")
        else:
            out.append(md_text(p))
    return "".join(out)


def _block_md(block: Block, key: bool) -> str | None:
    if isinstance(block, Heading):
        return "#" * (block.level + 1) + " " + md_text(block.text)
    if isinstance(block, Para):
        return _parts_md(block.parts, key)
    if isinstance(block, Display):
        lines = []
        for r in block.rows:
            if isinstance(r.rhs, Blank):
                rhs = (rf"\boxed{{{r.rhs.answer}}}\ ({r.rhs.number})" if key
                       else rf"\underline{{\qquad\qquad\qquad}}\ ({r.rhs.number})")
            else:
                rhs = r.rhs
            # inside $$ the note is LaTeX text (KaTeX reads it), not Markdown: no \[ escapes
            note = "".join(rf"\ \text{{{tex_text(p)}}}" if isinstance(p, str) else
                           (p.latex if isinstance(p, M) else "") for p in r.note)
            lines.append(f"{r.lhs} &{r.rel} {rhs}{note}" if r.lhs or r.rel else f"& {rhs}")
        return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"
    if isinstance(block, Boxed):
        return _block_md(Display(block.rows), key)
    if isinstance(block, Table):
        head = "| " + " | ".join(f"${h.latex}$" if isinstance(h, M) else md_text(h)
                                 for h in block.header) + " |"
        sep = "|" + "---|" * len(block.header)
        rows = ["| " + " | ".join(_parts_md(c, key) for c in row) + " |" for row in block.rows]
        return "\n".join([head, sep, *rows])
    if isinstance(block, Items):
        return "\n".join(f"- {_parts_md(i, key)}" for i in block.items)
    if isinstance(block, Raw):
        return block.md
    raise TypeError(type(block).__name__)


def render_md(blocks: Sequence[Block], title: str, subtitle: str, key: bool) -> str:
    """Markdown with ``$...$`` maths (for notebooks and web pages)."""
    out = [f"# {md_text(title)}", "", f"*{md_text(subtitle)}*", ""]
    for b in blocks:
        text = _block_md(b, key)
        if text is not None:
            out += [text, ""]
    return "\n".join(out)
