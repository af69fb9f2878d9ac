"""``derive stability``: vanishing and exploding gradients, measured over depth (and derived)."""

from __future__ import annotations

import argparse
import importlib

from derive.cli.common import add_format_arguments, add_seed_argument, dumps, takes_file
from derive.errors import ParseError, SpecError

NAME = "stability"
HELP = ("vanishing/exploding gradients: backprop through a deep network, per-layer norms, "
        "the Jacobian-norm bound, a verdict; --sweep for a table and plot, --symbolic for the maths; "
        "--spec rnn.toml --steps T: through time, with the course's gradient clipping")

INITS = ("identity", "normal", "xavier", "he", "orthogonal")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth", type=int, default=50, help="number of layers L (default 50)")
    p.add_argument("--width", type=int, default=64, help="units per layer (default 64)")
    p.add_argument("--act", default="tanh",
                   help="element-wise activation of every layer (default tanh); a comma list "
                        "with --sweep")
    p.add_argument("--init", default="xavier", choices=INITS, help="weight initialisation")
    p.add_argument("--gain", type=float, default=1.0,
                   help="scales the initialisation: --init identity --gain 1.5 is W = 1.5·I")
    add_seed_argument(p, "seed of the random weights and inputs")
    p.add_argument("--batch", type=int, default=32, help="examples forwarded (default 32)")
    p.add_argument("--every", type=int, default=None, metavar="K",
                   help="show every K-th layer in the text table (default: all up to 60 layers)")
    p.add_argument("--sweep", action="store_true",
                   help="run every depth × init (× activation) and print a table")
    p.add_argument("--depths", default="10,20,50", help="depths for --sweep (default 10,20,50)")
    p.add_argument("--inits", default=",".join(INITS),
                   help="inits for --sweep; NAME:GAIN sets one init's gain, e.g. identity:1.5")
    takes_file(p.add_argument("--plot", metavar="OUT.png",
                              help="write a plot of log10 ‖δ[l]‖ against layer, the stable band "
                                   "shaded (needs matplotlib): PNG, or vector for OUT.pdf/.svg"))
    p.add_argument("--dpi", type=_dpi, default=150,
                   help="the PNG's resolution, 72 to 600 dots per inch (default 150)")
    p.add_argument("--keep-prob", type=float, metavar="P",
                   help="inverted dropout on every layer, masks held fixed: "
                        "J = diag(g′) diag(D)/P W")
    p.add_argument("--l2", type=float, metavar="LAMBDA",
                   help="the L2 coefficient (it changes no Jacobian; the output says so)")
    p.add_argument("--batchnorm", action="store_true",
                   help="batch norm (training mode, γ = 1, β = 0) before every activation: the "
                        "Jacobians are the batch's, coupled across the examples")
    p.add_argument("--symbolic", action="store_true",
                   help="derive and check the maths instead: J = diag(g′)W, the norm bound, "
                        "s^L for W = s·I, gradient descent on ½aθ² (with --batchnorm also the "
                        "batch-norm Jacobian and its scale)")
    g = p.add_argument_group("through time (an RNN spec)")
    takes_file(g.add_argument("--spec", metavar="FILE",
                              help="an RNN spec ([rnn] table): the product of the Jacobians "
                                   "diag(1 − a⟨t⟩²) Waa over the steps, instead of a deep network"))
    g.add_argument("--steps", type=int, default=None, metavar="T",
                   help="time steps (default: the spec's steps)")
    g.add_argument("--radius", type=float, default=None, metavar="R",
                   help="scale Waa to spectral radius R first (default: as drawn, about 1)")
    g.add_argument("--max-value", type=float, default=None, metavar="V", dest="max_value",
                   help="the course's clip threshold maxValue (default 5)")
    add_format_arguments(p, ("text", "latex", "json"))


def _dpi(text: str) -> int:
    """A PNG resolution: a whole number from 72 (screen) to 600 (print)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 72 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{value} dpi is outside 72 to 600")
    return value


def _ints(text: str, flag: str) -> list[int]:
    out, pos = [], 0
    for tok in text.split(","):
        s = tok.strip()
        try:
            out.append(int(s))
        except ValueError:
            raise ParseError(f"{flag}: {s!r} is not a whole number", pos, text) from None
        pos += len(tok) + 1
    return out


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    if args.spec:  # stability through time: an RNN spec
        from derive.network.family import read_spec
        from derive.rnn.cli import stability

        family, table = read_spec(args.spec)
        if family != "rnn":
            raise SpecError(f"{args.spec}: derive stability --spec takes an RNN spec (an [rnn] "
                            "table); a deep network's is measured with --depth and --width")
        return stability(args, table)
    if args.steps is not None or args.radius is not None or args.max_value is not None:
        raise SpecError("--steps, --radius and --max-value are for an RNN: give --spec rnn.toml")
    # the modules (derive.stability.analyse is the function), loaded here, not at the top: they load
    # SymPy and numpy, and `derive --help` imports every command
    S = importlib.import_module("derive.stability.analyse")
    R = importlib.import_module("derive.stability.render")
    from derive.stability.symbolic import symbolic_stability  # loaded with render already

    fmt = args.format
    if args.every is not None and args.every < 1:
        raise SpecError(f"--every must be at least 1, not {args.every}")

    if args.batchnorm and args.sweep:
        raise SpecError("--batchnorm is measured on one run: drop --sweep")
    if args.symbolic:
        act = S.element_wise_activation(_names(args.act)[0] if _names(args.act) else "")
        if args.batchnorm:  # the others (with dropout and L2 if given), then batch norm's
            from derive.stability.symbolic_batchnorm import batchnorm_stability
            results = batchnorm_stability(act.name, args.keep_prob, args.l2)
        elif args.keep_prob is None and args.l2 is None:
            results = symbolic_stability(act.name)
        else:
            from derive.stability.regularised import regularised_stability
            results = regularised_stability(act.name, args.keep_prob, args.l2)
        out = {"text": R.symbolic_text, "latex": R.stability_latex,
               "json": lambda r: dumps(R.symbolic_json(r), indent=2)}[fmt](results)
        print(out)
        return 0

    acts = _names(args.act)
    if args.sweep:
        result = S.sweep(depths=_ints(args.depths, "--depths"), inits=_names(args.inits),
                         activations=acts, width=args.width, gain=args.gain, seed=args.seed,
                         batch=args.batch)
        text = {"text": lambda: R.sweep_text(result), "latex": lambda: R.stability_latex(result),
                "json": lambda: dumps(R.sweep_json(result))}[fmt]()
        sweep = result
    else:
        if len(acts) != 1:
            raise SpecError(f"--act {args.act!r}: give one activation (a list needs --sweep)")
        if args.batchnorm:
            from derive.stability.batchnorm import analyse_batchnorm
            if args.keep_prob is not None or args.l2 is not None:
                raise SpecError("--batchnorm with --keep-prob or --l2 is not supported by derive "
                                "stability yet: give one of them")
            result = analyse_batchnorm(depth=args.depth, width=args.width, activation=acts[0],
                                       init=args.init, gain=args.gain, seed=args.seed,
                                       batch=args.batch)
        else:
            result = S.analyse(depth=args.depth, width=args.width, activation=acts[0],
                               init=args.init, gain=args.gain, seed=args.seed, batch=args.batch,
                               keep_prob=args.keep_prob, l2=args.l2)
        text = {"text": lambda: R.to_text(result, args.every),
                "latex": lambda: R.stability_latex(result),
                "json": lambda: dumps(R.to_json(result))}[fmt]()
        sweep = S.SweepResult((result,), (result.depth,))
    if args.plot:
        R.plot_sweep(sweep, args.plot, dpi=args.dpi)
    print(text)
    if args.plot and fmt == "text":
        print(f"\nplot written to {args.plot}")
    return 0
