"""Flags shared by the commands that take a network spec."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from derive.errors import SpecError
from derive.network.layout import LAYOUTS

if TYPE_CHECKING:  # the spec module imports SymPy: commands load it in run(), not at --help
    from derive.network.spec import Network


def add_spec_arguments(p: argparse.ArgumentParser, required: bool = False) -> None:
    g = p.add_argument_group("network spec (flags, or --spec FILE)")
    g.add_argument(
        "--spec", metavar="FILE", help="a TOML spec file (layers, activations, loss, ...)"
    )
    g.add_argument(
        "--layers", metavar="N0,N1,..", help="layer sizes n[0..L], e.g. 3,3,1 (? for symbolic)"
    )
    g.add_argument(
        "--act",
        "--activations",
        dest="act",
        metavar="G1,G2,..",
        help="one activation per layer, e.g. relu,sigmoid (g for a generic one)",
    )
    g.add_argument("--loss", help="bce, ce, mse, half_mse (omit for a generic loss)")
    g.add_argument("--convention", choices=tuple(LAYOUTS), help="columns (default) or rows")
    g.add_argument(
        "--scale", choices=("mean", "sum"), help="cost scale: mean (default, 1/m) or sum"
    )


def network_from_args(args: argparse.Namespace,
                      default: Callable[[], Network] | None = None) -> Network:
    """The Network the flags describe; ``default`` (a callable) when none is given."""
    # lazy: derive.network.spec imports SymPy, which `derive --help` must not pay for
    from derive.network.spec import Network

    if args.spec:
        if args.layers or args.act or args.loss:
            raise SpecError("give the network either by flags or by --spec, not both")
        net = Network.from_toml(args.spec)
        if args.convention or args.scale:
            net = net.replace(convention=args.convention or net.convention,
                              scale=args.scale or net.scale)
        return net
    if not (args.layers or args.act) and default is not None:
        return default()
    return Network.from_strings(args.layers, args.act, args.loss, args.convention, args.scale)


def example_network() -> Network:
    """The built-in example: the course's 2-layer network (relu hidden, sigmoid + bce output)."""
    from derive.network.spec import Network  # lazy: SymPy (see network_from_args)

    return Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
