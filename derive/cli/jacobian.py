"""``derive jacobian Y X``: the full array ∂Y_ij/∂X_kl, entry by entry, on small sizes; the
contraction that turns it into the vectorized formula; the activation step; and (``--naive``)
where the scalar chain rule breaks."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from derive.cli.common import (
    add_format_arguments,
    add_seed_argument,
    add_spec_arguments,
    dumps,
    network_from_args,
)
from derive.errors import ParseError

if TYPE_CHECKING:  # SymPy-heavy modules, loaded in run() so that `derive --help` stays fast
    from derive.jacobian.naive import ActivationStep, NaiveResult
    from derive.jacobian.quantities import Quantity
    from derive.jacobian.steps import Contraction
    from derive.network.spec import Network

NAME = "jacobian"
#: the built-in naive formulas (derive.jacobian.naive.BUILTINS)
EXAMPLES = {"dZ": "dZ", "dW": "dW"}

HELP = "the full 4-index derivative ∂Y/∂X entry by entry, its contraction, and the naive chain rule"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("of", help="the quantity differentiated: X, W1, b1, Z1, A1 (Z[1], Z^{[1]}) or J")
    p.add_argument("wrt", help="with respect to: X, W1, b1, Z1, A1 (A0 is X)")
    add_spec_arguments(p)
    p.add_argument("--sizes", metavar="n0=2,n1=2,m=2",
                   help="sizes for the symbolic ones (default 2 each, m = 2)")
    p.add_argument("--naive", nargs="?", const="", metavar="FORMULA",
                   help="also try the naive scalar chain rule: a formula 'dZ1 = ...', or nothing "
                        "for the ordering students write, dZ[1] = dZ[2] W[2]ᵀ ⊙ g[1]′(Z[1])")
    p.add_argument("--example", choices=tuple(EXAMPLES), default="dZ",
                   help="the built-in naive formula of a bare --naive: dZ (the default, "
                        "dZ[1] = dZ[2] W[2]ᵀ ⊙ g[1]′(Z[1])) or dW (dW[L] = (1/m) dZ[L] A[L−1], "
                        "without its transpose)")
    add_seed_argument(p, "seed of the random instance for the numbers")
    add_format_arguments(p, ("text", "latex", "json"))


def default_network() -> Network:
    """Two generic layers (g[1], g[2], a generic loss ℓ) with symbolic sizes, filled by --sizes."""
    from derive.network.spec import Network  # lazy: SymPy

    return Network(depth=2)


def parse_sizes(text: str | None) -> dict[str, int]:
    """``"n0=3,n1=2,m=2"`` → {"n0": 3, "n1": 2, "m": 2}; strict, with the position of a problem."""
    if not text:
        return {}
    if len(text) > 200:
        raise ParseError("--sizes is too long", 200, text[:200])
    out: dict[str, int] = {}
    pos = 0
    for part in text.split(","):
        hit = re.fullmatch(r"\s*(n\d{1,4}|m)\s*=\s*(\d{1,6})\s*", part)
        if hit is None:
            raise ParseError("write sizes as n0=2,n1=2,m=2", pos, text)
        if hit[1] in out:
            raise ParseError(f"size {hit[1]} given twice", pos, text)
        out[hit[1]] = int(hit[2])
        pos += len(part) + 1
    return out


def run(args: argparse.Namespace) -> int:
    # lazy: the Jacobian machinery imports SymPy; `derive --help` loads every command module
    from derive.jacobian.naive import activation_step, naive_chain_rule
    from derive.jacobian.steps import contraction
    from derive.jacobian.tensor import jacobian
    from derive.jacobian.text import report_dict, report_latex, report_text

    net = network_from_args(args, default=default_network)
    sizes = parse_sizes(args.sizes)
    result = jacobian(args.of, args.wrt, net, sizes)
    full = result.sizes
    of, wrt = result.of, result.wrt
    contr: Contraction | None = None
    act: ActivationStep | None = None
    naive: NaiveResult | None = None
    if wrt.base in ("W", "b", "A") and (of.base == "J" or of.key == ("Z", _next(wrt))):
        if not (wrt.base == "A" and wrt.layer == result.network.L):
            contr = contraction(result.network, wrt, full, seed=args.seed)
    if of.base == "A" and of.layer is not None and wrt.key == ("Z", of.layer):
        act = activation_step(result.network, of.layer, full)
    if args.naive is not None:
        naive = naive_chain_rule(result.network, args.naive or None, full, seed=args.seed,
                                 example=EXAMPLES[args.example])
    if args.format == "json":
        print(dumps(report_dict(result, contr, act, naive), indent=2))
    elif args.format == "latex":
        print(report_latex(result, contr, act, naive), end="")
    else:
        print(report_text(result, contr, act, naive), end="")
    return 0


def _next(q: Quantity) -> int | None:
    """The layer whose Z uses ``q``: W[l], b[l] → l; A[l] → l + 1."""
    return q.layer + 1 if q.base == "A" and q.layer is not None else q.layer
