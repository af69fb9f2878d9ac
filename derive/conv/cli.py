"""The CNN side of ``derive backward`` (the command's module dispatches here on the spec's family).

>>> import argparse
>>> args = argparse.Namespace(spec=None, example="cnn", format="text", steps=False, verify=False, seed=0)
>>> backward(args)  # doctest: +ELLIPSIS
(built-in example: conv(stride 2, pad 1) → max pool → flatten → dense softmax; ...)
CNN: input 6×6×2 per example; ...
0
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from derive.conv.spec import CNN, EXAMPLE, cnn_from_mapping, load_cnn
from derive.errors import SpecError

EXAMPLES = {"cnn": EXAMPLE}


def cnn_from_args(args: argparse.Namespace, table: Mapping | None = None) -> CNN:
    """The CNN of ``--spec`` (its parsed ``table``) or ``--example cnn``."""
    if table is not None:
        return cnn_from_mapping(table, where=str(args.spec))
    return load_cnn(EXAMPLES[args.example], where=f"example {args.example}")


def backward(args: argparse.Namespace, table: Mapping | None = None) -> int:
    """Derive, prove (strict) and print a CNN's gradients as text, LaTeX, Markdown or JSON."""
    from derive.conv import render
    from derive.conv.derivation import derive_cnn

    if getattr(args, "print_spec", False) and table is None:
        print(EXAMPLES[args.example], end="")
        return 0
    if table is not None and (getattr(args, "layers", None) or getattr(args, "act", None)
                              or getattr(args, "loss", None)):
        raise SpecError("give the network either by flags or by --spec, not both")
    from derive.conv.numbers_cli import refuse_dense_flags

    # --dX is taken and changes nothing: a CNN's derivation always ends at dX (conv_backward's dA_prev)
    refuse_dense_flags(args, str(args.spec) if table is not None else f"example {args.example}")
    d = derive_cnn(cnn_from_args(args, table), prove=True, seed=args.seed)
    if args.format == "json":
        print(render.to_json(d))
    elif args.format == "latex":
        print(render.latex(d, steps=args.steps))
    elif args.format == "markdown":
        print(render.markdown(d, steps=args.steps))
    else:
        if table is None:
            print("(built-in example: conv(stride 2, pad 1) → max pool → flatten → dense softmax; "
                  "derive backward --example cnn --print-spec shows it)")
        print(render.text(d, steps=args.steps, verify=args.verify))
    return 0
