"""`derive backward`: every layer's dA, dZ, dW, db, proven, as text, LaTeX, JSON or Markdown.

A ``--spec`` file is dispatched on its family (derive.network.family, derive.cli._family): dense
networks here, CNNs (``input = [n_H, n_W, n_C]``, conv2d/pool/flatten layers) in derive.conv,
RNNs (an ``[rnn]`` table) in derive.rnn.
"""

from __future__ import annotations

import argparse

from derive.cli.common import (
    add_format_arguments,
    add_seed_argument,
    add_spec_arguments,
    example_network,
    network_from_args,
)
from derive.errors import SpecError

NAME = "backward"
HELP = "derive dA, dZ, dW, db for every layer, step by step, each formula proven"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_format_arguments(p, ("text", "latex", "markdown", "json"))
    p.add_argument("--steps", action="store_true", help="show the step-by-step derivation")
    p.add_argument("--verify", action="store_true", help="show both proofs of every formula")
    p.add_argument("--dX", "--input-gradient", dest="input_gradient", action="store_true",
                   help="go on below layer 1 to dA[0] = dX, the gradient with respect to the input; "
                        "a CNN spec always derives dX")
    p.add_argument("--example", choices=("cnn", "rnn"),
                   help="a built-in example spec: cnn (conv with stride 2 and pad 1, max pool, "
                        "flatten, dense softmax) or rnn (the course's tanh RNN, T_x = 4)")
    p.add_argument("--print-spec", action="store_true",
                   help="with --example: print the example's TOML spec and stop")
    add_seed_argument(p, "seed of the finite-difference instance")


#: the body of each family's derivation (derive.cli._family.dispatch); dense is this module's
RUNNERS = {"cnn": "derive.conv.cli:backward", "rnn": "derive.rnn.cli:backward"}


def run(args: argparse.Namespace) -> int:
    if args.example or args.print_spec:
        if not args.example or args.spec or args.layers or args.act:
            raise SpecError("--example names a built-in spec: give it alone (--print-spec with it)")
        if args.example == "rnn":
            return _rnn_example(args)
        from derive.conv.cli import backward as cnn_backward

        return cnn_backward(args)
    from derive.cli._family import dispatch

    code = dispatch(args, RUNNERS)
    return _dense(args) if code is None else code


def _rnn_example(args: argparse.Namespace) -> int:
    """``--example rnn``: the built-in RNN spec, printed (``--print-spec``) or derived."""
    from derive.network.textfile import load_toml
    from derive.rnn import cli
    from derive.rnn.spec import EXAMPLE

    if args.print_spec:
        print(EXAMPLE, end="")
        return 0
    if args.format == "text":
        print("(built-in example: the course's tanh RNN, n_x = 3, n_a = 5, n_y = 2, T_x = 4, m = 2; "
              "derive backward --example rnn --print-spec shows it)")
    args.spec = "example rnn"
    args.example = args.print_spec = None  # taken: the RNN's command reads the spec alone
    return cli.backward(args, load_toml(EXAMPLE, "example rnn"))


def _dense(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from derive.cli import process_preload

    # imported with the collector paused, as check's (derive.cli.preload): ~85 ms of a warm run
    process_preload(("derive.engine.backward", "derive.engine.proof", "sympy.tensor.tensor"))
    from derive.engine.backward import derive
    from derive.engine.proof import prove

    used_example = not (args.spec or args.layers or args.act)
    net = network_from_args(args, default=example_network)
    d = derive(net, prove=False, input_gradient=args.input_gradient)
    d = replace(d, proof=prove(d, seed=args.seed, strict=True))
    if args.format == "json":
        from derive.render.json import render

        print(render(d))
        return 0
    if args.format == "latex":
        from derive.render.latex import render as render_latex

        print(render_latex(d, steps=args.steps))
        return 0
    if args.format == "markdown":
        from derive.render.markdown import render as render_md

        print(render_md(d, steps=args.steps))
        return 0
    from derive.render.text import render as render_text

    if used_example:
        print(
            "(built-in example: the course's 2-layer network; give --layers/--act/--loss or --spec for yours)"
        )
    print(render_text(d, steps=args.steps, verify=args.verify))
    return 0
