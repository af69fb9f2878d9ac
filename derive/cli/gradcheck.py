"""`derive gradcheck`: derived gradients (or your own backward function) against central
differences of the whole cost, array by array."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from derive.cli.common import (
    add_format_arguments,
    add_seed_argument,
    add_spec_arguments,
    dumps,
    example_network,
    network_from_args,
)
from derive.errors import DeriveError, SpecError

NAME = "gradcheck"
HELP = "check gradients against central differences of the whole cost (derived, or --impl yours)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_format_arguments(p, ("text", "json"))
    add_seed_argument(p, "seed of the random parameters and data")
    p.add_argument("--m", type=int, default=4, help="number of examples (default 4)")
    p.add_argument("--eps", type=float, default=None, help="central-difference step (default 1e-4)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default 1e-6)")
    p.add_argument("--values", metavar="FILE",
                   help="a `derive numbers` JSON/TOML file: check at its X, Y, W, b")
    p.add_argument("--impl", metavar="MODULE:FUNCTION",
                   help="your backward(params, X, Y) -> {'dW1': ..., 'db1': ...}; MODULE is a "
                        "module name or a path to a .py file")


def run(args: argparse.Namespace) -> int:
    # the module (derive.numbers.gradcheck is the function), loaded here, not at the top: it loads
    # SymPy and numpy, and `derive --help` imports every command
    G = importlib.import_module("derive.numbers.gradcheck")
    eps = args.eps if args.eps is not None else G.EPS
    rtol = args.rtol if args.rtol is not None else G.RTOL
    if not 1 <= args.m <= 10_000:
        raise DeriveError(f"--m {args.m}: give 1 to 10000 examples")
    instance = None
    if args.values:
        net, instance = _from_values(args)
    else:
        net = network_from_args(args, default=example_network)
    if net.layers is not None and all(s is not None for s in net.layers):
        if sum(a * b + a for a, b in zip(net.layers[1:], net.layers[:-1], strict=False)) > 2_000_000:
            raise DeriveError("more than 2,000,000 parameters: too many to check entry by entry")
    if args.impl:
        fn = load_impl(args.impl)
        r = G.gradcheck_impl(net, fn, seed=args.seed, m=args.m, eps=eps, rtol=rtol,
                             instance=instance, source=args.impl)
    else:
        r = G.gradcheck(net, seed=args.seed, m=args.m, eps=eps, rtol=rtol, instance=instance)
    if args.format == "json":
        print(dumps(r.to_dict(), indent=2))
    else:
        print(render_text(r))
    return 0 if r.passed else 1


def render_text(r) -> str:
    out = [f"Gradient check of {r.source}: {r.network.describe()}",
           f"  m = {r.m}, seed = {r.seed}, eps = {r.eps:g}, rtol = {r.rtol:g}",
           f"  criterion: {r.criterion}"]
    out += [f"  note: {n}" for n in r.notes]
    out.append("")
    out.append(f"  {'array':<8} {'shape':<9} {'rel. error':>11} {'‖g‖':>10} {'floor':>9}  verdict")
    for a in r.arrays:
        shape = "×".join(map(str, a.shape))
        verdict = {"pass": "ok", "fail": "WRONG", "unresolved": "below float64 resolution"}[a.status]
        if a.status == "fail" and a.worst_entry is not None:
            verdict += f" (worst entry {tuple(i + 1 for i in a.worst_entry)})"
        out.append(f"  {a.name:<8} {shape:<9} {a.relative_error:>11.2e} {a.analytic_norm:>10.2e} "
                   f"{a.floor:>9.1e}  {verdict}")
    out.append("")
    out.append(f"  overall relative error {r.overall_relative_error:.2e}; "
               f"max per array {r.max_relative_error:.2e}")
    for k in r.kinks:
        out.append(f"  ! {k.message()}")
    out.append("PASSED" if r.passed else f"FAILED: wrong gradient for {', '.join(r.failed)}")
    return "\n".join(out)


def _from_values(args):
    # here, not at the top: SymPy and numpy (see run)
    from derive.network import model
    from derive.network.spec import Network
    from derive.numbers.files import read_file
    from derive.numbers.worked import given_arrays

    inp = read_file(args.values)
    if inp.network is None:
        raise SpecError(f"{args.values}: no [network] table")
    net, given = given_arrays(Network.from_mapping(inp.network, where=args.values), inp.values)
    X, Y = given[("X", None)], given[("Y", None)]
    params = {k: v for k, v in given.items() if k[0] in ("W", "b")}
    return net, model.Instance(tuple(int(s) for s in net.layers), model.example_count(net, X),
                               X, Y, params)


def load_impl(spec: str):
    """``module:function`` or ``path/to/file.py:function`` -> the function (the user's own code,
    imported at their explicit request)."""
    if ":" not in spec:
        raise DeriveError(f"--impl {spec!r}: write MODULE:FUNCTION, e.g. mynet:backward")
    mod_name, _, fn_name = spec.rpartition(":")
    try:
        if mod_name.endswith(".py") or "/" in mod_name:
            path = Path(mod_name)
            if not path.is_file():
                raise DeriveError(f"--impl: no file {mod_name!r}")
            s = importlib.util.spec_from_file_location(path.stem, path)
            if s is None or s.loader is None:  # not Python source (no .py ending)
                raise DeriveError(f"--impl: {mod_name!r} is not a Python file: give a .py file "
                                  "or a module name (mynet:backward)")
            module = importlib.util.module_from_spec(s)
            sys.modules.setdefault(path.stem, module)
            s.loader.exec_module(module)
        else:
            if "" not in sys.path and "." not in sys.path:
                sys.path.insert(0, "")  # the current directory, as `python -m` would
            module = importlib.import_module(mod_name)
    except DeriveError:
        raise
    except Exception as exc:
        raise DeriveError(f"--impl: importing {mod_name!r} raised {type(exc).__name__}: {exc}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise DeriveError(f"--impl: {mod_name!r} has no function {fn_name!r}")
    return fn
