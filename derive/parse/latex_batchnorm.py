"""Batch normalisation's names in LaTeX (issue 11): ``\\gamma``, ``\\beta``, ``\\mu``,
``\\tilde{Z}``, the normalised Z (``\\hat{x}``, ``\\hat{z}``, ``Z_{norm}``), the variance
(``\\sigma^2``, ``(\\sigma^{[l]})^{2}``) and their gradients (``d\\gamma``,
``d(\\sigma^{[l]})^{2}``), on a network with batch norm; ``\\epsilon`` is its ε
(derive.parse.latex). A level of the LaTeX parser, above scripts and below names.

>>> from derive.network.spec import Network
>>> from derive.parse import parse_equation
>>> net = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", batchnorm=[1])
>>> print(parse_equation(r"dZ_{norm}^{[1]} = d\\tilde{Z}^{[1]} \\odot \\gamma^{[1]}", net).rhs)
dZ̃[1] ⊙ γ[1]
"""

from __future__ import annotations

from derive.parse.latex_scripts import ScriptMixin
from derive.parse.latex_tokens import BN_CMDS, NAME_CMDS, Tok


class BatchNormMixin(ScriptMixin):
    """Reading batch normalisation's names (module docstring)."""

    def batchnorm_ident(self, t: Tok) -> tuple[str, int, int] | None:
        """Batch normalisation's names (read token ``t``), on a network with batch norm: γ, β,
        μ (``\\gamma``, ``d\\gamma``), Z̃ (``\\tilde{Z}``), the normalised Z (``\\hat{x}``,
        ``\\hat{z}``, ``Z_{norm}``, ``Z_{\\text{norm}}``), the variance (``\\sigma^2``,
        ``\\sigma_B^2``, ``(\\sigma^{[l]})^{2}``: its ``^{2}`` is dropped from the tokens).
        None: not one of them (or no batch norm)."""
        if "batchnorm" not in self.b.net.kinds:
            if t.kind == "word" and t.text == "d" and self.peek().kind == "cmd" \
                    and not self.peek().space:  # d\gamma, d\tilde{Z}
                t = self.peek()
            if t.kind == "cmd" and t.text in ("gamma", "beta", "mu", "tilde", "widetilde"):
                raise self.err(f"\\{t.text} is read as batch normalisation's, but the network "
                               "has no batch norm: pass --batchnorm", t)
            return None
        prefix = ""
        if t.kind == "word" and t.text == "d" and not self.peek().space and self.peek().kind == \
                "cmd" and self.peek().text in (*BN_CMDS, "hat", "widehat"):
            prefix, t = "d", self.next()
        u = self.peek()
        if t.kind == "cmd" and t.text in ("gamma", "beta", "mu"):
            return prefix + BN_CMDS[t.text], t.start, t.end
        if t.kind == "cmd" and t.text in ("tilde", "widetilde", "hat", "widehat"):
            k = 1 if u.text == "{" else 0
            letter = self.peek(k)
            if letter.kind != "word" or letter.text not in ("Z", "z", "x", "X") \
                    or (k and self.peek(2).text != "}") \
                    or (t.text in ("tilde", "widetilde") and letter.text in ("x", "X")):
                if t.text in ("tilde", "widetilde"):
                    raise self.err("\\tilde is read on Z (\\tilde{Z}^{[l]}, batch norm's "
                                   "output)", t)
                self.i -= bool(prefix)  # d\hat{y}: the d is read as before
                return None  # \hat{y}: the prediction
            end = self.toks[self.i + 2 * k].end
            self.i += 1 + 2 * k
            base = "Ztilde" if t.text in ("tilde", "widetilde") else "Znorm"
            return prefix + base, t.start, end
        if t.kind == "word" and t.text in ("Z", "z", "dZ", "dz") and u.text == "_":
            k = 2 if self.peek(1).text == "{" else 1
            if self.peek(k).kind == "cmd" and self.peek(k).text in NAME_CMDS \
                    and self.peek(k + 1).text == "{" and self.peek(k + 3).text == "}":
                words, close = [self.peek(k + 2)], k + 4 if k == 2 else k + 3
            else:
                words, close = [self.peek(k)], k + 1
            if words[0].text == "norm" and (k == 1 or self.peek(close).text == "}"):
                end = self.peek(close if k == 2 else close - 1).end
                self.i += close + 1 if k == 2 else close
                return t.text[:-1] + "Znorm", t.start, end
        if t.kind == "cmd" and t.text == "sigma":
            return self.variance(t)
        return None

    def variance(self, t: Tok) -> tuple[str, int, int] | None:
        """``\\sigma^2``, ``\\sigma_B^2`` (the batch's variance) or ``(\\sigma^{[l]})^{2}`` (the
        layer's, as derive prints it) at ``\\sigma`` (read); None: σ the activation."""
        k = 0
        if self.peek().text == "_" and self.peek(1).kind == "word":  # \sigma_B: the batch's
            k = 2
        elif self.peek().text == "_" and self.peek(1).text == "{" and self.peek(3).text == "}":
            k = 4
        two = [self.peek(k).text, self.peek(k + 1).text]
        if two[0] == "^" and (two[1] == "2" or two[1] == "{" and self.peek(k + 2).text == "2"
                              and self.peek(k + 3).text == "}"):
            n = k + (2 if two[1] == "2" else 4)
            end = self.peek(n - 1).end
            self.i += n
            return "var", t.start, end
        if self.toks[self.i - 2].text != "(" or self.peek().text != "^" or self.peek(1).text \
                != "{":
            return None
        close = self.i + 1 + self._script_length()
        after = [u.text for u in self.toks[close:close + 5]]
        if after[:3] == [")", "^", "2"] or after[:5] == [")", "^", "{", "2", "}"]:
            del self.toks[close + 1:close + (3 if after[2] == "2" else 5)]  # (σ^{[l]})^2: var
            return "var", t.start, t.end
        return None

    def _script_length(self) -> int:
        """Tokens of the brace group at ``self.i + 1`` (a script's ``{...}``)."""
        level, j = 0, self.i + 1
        while j < len(self.toks) - 1:
            level += (self.toks[j].text == "{") - (self.toks[j].text == "}")
            if level == 0:
                return j - self.i
            j += 1
        return j - self.i
