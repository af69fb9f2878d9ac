"""Handouts: a standalone LaTeX (or Markdown) document that teaches one network's backpropagation.

Built from the same derivation as everything else: the network and its convention, a shape table,
the forward pass, every backward step with its rule, where 1/m comes from, why the order is
W[l+1]ᵀ dZ[l+1], a real finite-difference run, the element-wise proof and the common mistakes
as the checker judges them. Sections (:data:`SECTIONS`) can be picked; other features plug in
(:data:`PLUGINS`: worked numbers, stability, the Jacobian) when their modules are installed.
``exercises=True`` blanks the results out (a worksheet) and also gives the key.

>>> from derive.network.spec import Network
>>> h = handout(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
...             sections=["shapes", "order"], title="Backprop, 100% by hand")
>>> h.sections
('shapes', 'order')
>>> r"Backprop, 100\\% by hand" in h.tex and r"\\begin{document}" in h.tex
True
>>> print(h.key)
None
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from derive.engine.backward import Derivation, derive
from derive.engine.proof import prove
from derive.errors import DeriveError, SpecError
from derive.handout import plugins, regularisation, steps
from derive.handout import sections as S
from derive.handout.doc import Block, Para, render_md, render_tex
from derive.limits import Limit, require
from derive.network.spec import Network

CORE: dict[str, plugins.Section] = {
    "network": S.network,        # description, TikZ drawing, activations, loss, convention
    "shapes": S.shapes,          # the shape of every quantity
    "forward": S.forward,        # Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]), J
    "backward": steps.backward,      # every step of every layer, with its rule, and the results
    "dropout": regularisation.dropout,      # why divide by keep_prob; the mask held fixed
    "batchnorm": regularisation.batchnorm,  # the graph, the compact dZ, what dZ means there
    "averaging": S.averaging,    # where the 1/m and the sum over examples come from
    "order": S.order,            # why W[l+1]ᵀ dZ[l+1] and not dZ[l+1] W[l+1]ᵀ
    "verification": S.verification,  # finite differences end to end, and the element-wise proof
    "mistakes": S.mistakes,      # wrong variants and their verdicts
}
#: sections that state the results in full: a worksheet leaves them to its key
REVEALING = frozenset({"averaging", "order", "verification", "mistakes", "numbers"})
PLUGINS = tuple(plugins.SECTIONS)  # ("jacobian", "stability", "numbers")
SECTIONS = tuple(CORE) + PLUGINS
DEFAULT_SECTIONS = tuple(CORE)
#: a handout is for reading: beyond 60 layers its tables and proofs run to many pages (and the
#: whole handout of a 60-layer network takes about 10 s to build)
DEPTH = Limit("handout.depth", 60, "layers", "--layers", "a handout")
MAX_DEPTH = DEPTH.value
TEX_TIMEOUT = 120  # seconds per pdflatex run
TEX_PACKAGES = "texlive-latex-base texlive-latex-recommended texlive-pictures"


@dataclass(frozen=True)
class Handout:
    """A rendered handout: ``tex`` (or ``md``); with exercises also the ``key``."""

    title: str
    format: str  # "tex" or "md"
    sections: tuple[str, ...]
    text: str
    key: str | None = None
    answers: int = 0  # number of blanks
    #: each blank's (number, label, answer LaTeX, answer as Unicode text)
    answer_forms: tuple[tuple[int, str, str, str], ...] = ()
    #: the figures the LaTeX includes (file name, PDF bytes): written beside the .tex
    files: tuple[tuple[str, bytes], ...] = ()

    @property
    def tex(self) -> str:
        return self.text

    def write(self, path: str | Path) -> list[Path]:
        """Write the handout (and the key next to it, as ``name-key.ext``, and its figures beside
        it); returns the paths."""
        p = Path(path)
        paths = [p]
        _write(p, self.text)
        if self.key is not None:
            kp = key_path(p)
            _write(kp, self.key)
            paths.append(kp)
        for name, data in self.files:
            fp = p.with_name(name)
            try:
                fp.write_bytes(data)
            except OSError as exc:
                raise DeriveError(f"cannot write {str(fp)!r}: {exc.strerror}") from None
            paths.append(fp)
        return paths

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)


def key_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}-key{p.suffix}")


def _write(p: Path, text: str) -> None:
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DeriveError(f"cannot write {str(p)!r}: {exc.strerror}") from None


def parse_sections(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"shapes,order"`` → ("shapes", "order"); ``all`` = every available section; ``core``."""
    if text is None:
        return DEFAULT_SECTIONS
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    out: list[str] = []
    for name in names:
        if name in ("all", "core"):
            extra = [s for s in PLUGINS if plugin_available(s)] if name == "all" else []
            out += [s for s in (*CORE, *extra) if s not in out]
        elif name in SECTIONS:
            if name not in out:
                out.append(name)
        elif name:
            raise SpecError(f"unknown handout section {name!r}; known: {', '.join(SECTIONS)}, "
                            "all, core")
    if not out:
        raise SpecError(f"no sections chosen; known: {', '.join(SECTIONS)}")
    return tuple(out)


def worksheet_network(seed: int) -> Network:
    """A small network drawn from ``seed``, so that each seed gives another worksheet: 2 or 3
    layers of 2 to 5 units, hidden relu, tanh or sigmoid, output sigmoid + bce or softmax + ce.

    >>> worksheet_network(1) != worksheet_network(2)
    True
    """
    rng = random.Random(seed)
    depth = rng.choice((2, 3))
    hidden = [rng.choice(("relu", "tanh", "sigmoid")) for _ in range(depth - 1)]
    out, loss = rng.choice((("sigmoid", "bce"), ("softmax", "ce")))
    sizes = [rng.randint(2, 5) for _ in range(depth)] + [1 if out == "sigmoid" else rng.randint(2, 4)]
    return Network(layers=sizes, activations=[*hidden, out], loss=loss)


def handout(net_or_derivation: Network | Derivation, title: str | None = None,
            sections: str | Sequence[str] | None = None, exercises: bool = False,
            format: str = "tex", seed: int = 0, figures: bool = True) -> Handout:
    """Build a handout for a :class:`derive.network.spec.Network` (derived and proven here) or a
    :class:`derive.engine.backward.Derivation` (proven if it is not yet). ``figures``: sections
    may include figures (``Handout.files``, written beside the .tex); False for a handout that
    goes where no file can go beside it (standard output)."""
    if format not in ("tex", "md"):
        raise SpecError(f"unknown handout format {format!r}; known: tex, md")
    if isinstance(net_or_derivation, Derivation):
        d = net_or_derivation
    else:
        require(DEPTH, net_or_derivation.L)
        d = derive(net_or_derivation, prove=False)
    if d.proof is None:
        d = replace(d, proof=prove(d, seed=seed, strict=True))
    names = parse_sections(sections)
    asked = () if sections is None else parse_sections(
        [s for s in (sections.split(",") if isinstance(sections, str) else sections)
         if s.strip().lower() not in ("all", "core")] or ["network"])
    for name in names:  # dropout, batchnorm: only for a network that has them
        if name in asked and not regularisation.applies(name, d.network):
            raise SpecError(f"section {name!r} is for a network with "
                            f"{'dropout (--keep-prob)' if name == 'dropout' else 'batch norm (--batchnorm)'}")
    names = tuple(n for n in names if regularisation.applies(n, d.network))
    ctx = S.Context(d, exercises=exercises, seed=seed,
                    files={} if figures and format == "tex" else None)
    blocks: list[Block] = []
    held: list[str] = []  # sections that print the answers: in the key only
    key_only: list[Block] = []
    for name in names:
        made = CORE[name](ctx) if name in CORE else _plugin(name, ctx)
        if exercises and name in REVEALING:
            key_only += made
            held.append(name)
        else:
            blocks += made
    blocks += S.rules_used(ctx)
    net = d.network
    title = title if title is not None else f"Backpropagation through a {net.L}-layer network"
    subtitle = f"derive handout: {net.describe()}"
    worksheet = blocks
    if exercises:
        also = f" It also has the sections {', '.join(held)}, which show the answers." if held else ""
        worksheet = [Para((f"Worksheet: fill in the {len(ctx.answers)} numbered blanks; the answer "
                           "key is a separate file." + also,)), *blocks]
        key_blocks = [Para(("Answer key: every blank is filled in and boxed.",)), *blocks,
                      *key_only, *S.answers(ctx)]
    render = render_tex if format == "tex" else render_md
    text = render(worksheet, title, subtitle, key=False)
    key = render(key_blocks, title + " (answer key)", subtitle, key=True) if exercises else None
    forms = tuple((n, label, latex, plain)
                  for (n, label, latex), plain in zip(ctx.answers, ctx.plain, strict=True))
    return Handout(title, format, names, text, key, len(ctx.answers), forms,
                   tuple(sorted((ctx.files or {}).items())))


# -- plug-in sections from other features (derive.handout.plugins) -------------------------------


def plugin_available(name: str) -> bool:
    """Whether a plug-in section is there: every feature behind one ships with the package."""
    return name in plugins.SECTIONS


def _plugin(name: str, ctx: S.Context) -> list[Block]:
    if not plugin_available(name):
        raise SpecError(f"section {name!r} needs a feature this installation does not have")
    return plugins.SECTIONS[name](ctx)


# -- compiling -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TexResult:
    pdf: bytes
    runs: int
    log: str


def tex_engine() -> str:
    """The path of pdflatex, or a DeriveError that says how to install it."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise DeriveError(
            "--pdf needs pdflatex, which is not installed. On Debian/Ubuntu: "
            f"sudo apt-get install --no-install-recommends {TEX_PACKAGES} "
            "(or any TeX Live with amsmath, booktabs, longtable, xcolor and tikz); "
            "or drop --pdf and compile the .tex yourself")
    return exe


LOG_ERRORS = ("Undefined control sequence", "LaTeX Error", "Missing ", "Emergency stop",
              "Fatal error", "Runaway argument")


def log_problems(log: str) -> list[str]:
    """Lines of a pdflatex log that report an error (``! ...`` lines and known messages)."""
    return [line for line in log.splitlines()
            if line.startswith("! ") or any(e in line for e in LOG_ERRORS)]


def compile_tex(tex: str, timeout: float = TEX_TIMEOUT,
                files: Sequence[tuple[str, bytes]] = ()) -> TexResult:
    """Compile with pdflatex in a fresh temporary directory (twice when it asks to rerun), with
    shell escape off and file access restricted to that directory; ``files`` (name, bytes), the
    figures, are written into it beside the .tex first. Any error is a DeriveError."""
    exe = tex_engine()
    env = {**os.environ, "openin_any": "p", "openout_any": "p", "shell_escape": "f"}
    with tempfile.TemporaryDirectory(prefix="derive-handout-") as tmp:
        src = Path(tmp, "handout.tex")
        src.write_text(tex, encoding="utf-8")
        for name, data in files:
            if Path(name).name != name or name.startswith(".") or name == "handout.tex":
                raise DeriveError(f"a figure's name must be a plain file name, not {name!r}")
            Path(tmp, name).write_bytes(data)
        runs = 0
        log = ""
        for _ in range(3):
            runs += 1
            try:
                proc = subprocess.run(
                    [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                     "-file-line-error", "handout.tex"],
                    cwd=tmp, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                    timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise DeriveError(f"pdflatex took longer than {timeout:g} s; gave up") from None
            log_path = Path(tmp, "handout.log")
            log = log_path.read_text(encoding="latin-1") if log_path.exists() else proc.stdout.decode("latin-1")
            problems = log_problems(log)
            if proc.returncode != 0 or problems:
                detail = "; ".join(problems[:5]) or f"exit code {proc.returncode}"
                raise DeriveError(f"pdflatex failed: {detail}")
            if "Rerun to get" not in log and "Rerun LaTeX" not in log and runs >= 2:
                break
            if runs == 1 and "Rerun" not in log and "longtable" not in tex:
                break
        return TexResult(Path(tmp, "handout.pdf").read_bytes(), runs, log)


def write_pdf(tex: str, path: str | Path, files: Sequence[tuple[str, bytes]] = ()) -> Path:
    """Compile ``tex`` (with its figures, ``Handout.files``) and write the PDF to ``path``."""
    result = compile_tex(tex, files=files)
    p = Path(path)
    try:
        p.write_bytes(result.pdf)
    except OSError as exc:
        raise DeriveError(f"cannot write {str(p)!r}: {exc.strerror}") from None
    return p
