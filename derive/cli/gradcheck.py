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
    l2_flags,
    network_from_args,
    whole,
)
from derive.errors import DeriveError, SpecError
from derive.limits import require

NAME = "gradcheck"
HELP = "check gradients against central differences of the whole cost (derived, or --impl yours)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    add_format_arguments(p, ("text", "json"))
    add_seed_argument(p, "seed of the random parameters and data")
    p.add_argument("--m", type=whole(1), default=None,
                   help="number of examples (default 4; a CNN spec's own examples = m if it gives one)")
    p.add_argument("--eps", type=float, default=None, help="central-difference step (default 1e-4; an RNN spec: 1e-5)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance (default 1e-6; a CNN or RNN spec: 1e-7)")
    p.add_argument("--values", metavar="FILE",
                   help="a `derive numbers` JSON/TOML file: check at its X, Y, W, b")
    p.add_argument("--impl", metavar="MODULE:FUNCTION",
                   help="your backward(params, X, Y) -> {'dW1': ..., 'db1': ...}, or a course's "
                        "own signature (propagate(w, b, X, Y); a CS231n model class or its "
                        "loss(X, y)); MODULE is a module name or a path to a .py file")
    p.add_argument("--forward", metavar="MODULE:FUNCTION",
                   help="a course's forward pass whose cache --impl (the backward pass) takes: "
                        "forward_propagation(X, parameters) -> (A2, cache) with "
                        "backward_propagation(parameters, cache, X, Y), arguments matched by name")
    p.add_argument("--plant", metavar="MISTAKE",
                   help="a CNN spec: check a planted mistake instead of the derived formulas, to see "
                        "the check fail: unflipped_filters, pad_off_by_one, missing_stride, "
                        "average_without_scale; an RNN spec: missing_sum, no_carry")


#: the spec families besides dense, and what runs them (derive.cli._family.dispatch)
FAMILIES = {
    "cnn": "derive.conv.numbers_cli:gradcheck",
    "rnn": "derive.rnn.cli:gradcheck",
}


def run(args: argparse.Namespace) -> int:
    from derive.cli._family import dispatch

    other = dispatch(args, FAMILIES)
    if other is not None:
        return other
    if args.plant:
        raise DeriveError("--plant is for a CNN spec (--spec cnn.toml with conv2d layers)")
    if args.m is None:
        args.m = 4
    # the module (derive.numbers.gradcheck is the function), loaded here, not at the top: it loads
    # SymPy and numpy, and `derive --help` imports every command
    G = importlib.import_module("derive.numbers.gradcheck")
    eps = args.eps if args.eps is not None else G.EPS
    rtol = args.rtol if args.rtol is not None else G.RTOL
    require(G.EXAMPLES, args.m)
    instance = None
    if args.values:
        net, instance = _from_values(args)
    else:
        net = _with_keep_prob(args, lambda: network_from_args(args, default=example_network))
    # the limits before the user's module is imported: refused work runs none of their code
    G.require_within_limits(net, instance.m if instance is not None else args.m)
    try:
        if args.forward and not args.impl:
            raise DeriveError("--forward needs --impl: the backward function its cache goes to")
        if args.impl:
            fn = load_impl(args.impl)
            fwd = load_impl(args.forward) if args.forward else None
            r = G.gradcheck_impl(net, fn, seed=args.seed, m=args.m, eps=eps, rtol=rtol,
                                 instance=instance, source=args.impl, forward=fwd)
        else:
            r = G.gradcheck(net, seed=args.seed, m=args.m, eps=eps, rtol=rtol, instance=instance)
    except G.UserCodeError as exc:  # main() prints the error; --debug adds where in their code
        if getattr(args, "debug", False) and exc.user_traceback:
            sys.stderr.write(exc.user_traceback)
        raise
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
    out += array_table(r)
    for k in r.kinks:
        out.append(f"  ! {k.message()}")
    out.append("PASSED" if r.passed else f"FAILED: wrong gradient for {', '.join(r.failed)}")
    return "\n".join(out)


def array_table(r) -> list[str]:
    """The table of a check's arrays (a dense network's or a CNN's) and its overall errors."""
    width = max([9, *(len("×".join(map(str, a.shape))) for a in r.arrays)])  # rank 4: 3×3×2×4
    out = [f"  {'array':<8} {'shape':<{width}} {'rel. error':>11} {'‖g‖':>10} {'floor':>9}  verdict"]
    for a in r.arrays:
        shape = "×".join(map(str, a.shape))
        verdict = {"pass": "ok", "fail": "WRONG", "unresolved": "below float64 resolution"}[a.status]
        if a.status == "unresolved" and a.reason is not None:
            verdict = "not resolved at this step: try a smaller --eps"
        elif a.status == "fail" and a.reason is not None:
            verdict += f" ({a.reason})"
        elif a.status == "fail" and a.worst_entry is not None:
            verdict += f" (worst entry {tuple(i + 1 for i in a.worst_entry)})"
        out.append(f"  {a.name:<8} {shape:<{width}} {a.relative_error:>11.2e} {a.analytic_norm:>10.2e} "
                   f"{a.floor:>9.1e}  {verdict}")
    out.append("")
    out.append(f"  overall relative error {r.overall_relative_error:.2e}; "
               f"max per array {r.max_relative_error:.2e}")
    return out


def _from_values(args):
    # here, not at the top: SymPy and numpy (see run)
    from derive import layers
    from derive.network import model
    from derive.network.spec import Network
    from derive.numbers.arrays import given_values
    from derive.numbers.files import read_file

    inp = read_file(args.values)
    if inp.network is None and not args.act:
        raise SpecError(f"{args.values}: no [network] table: give one, or the flags "
                        "(--act relu,sigmoid --loss bce)")
    base = (Network.from_mapping(inp.network, where=args.values) if inp.network is not None
            else _with_keep_prob(args, lambda: network_from_args(args, default=example_network)))
    if inp.network is not None and getattr(args, "keep_prob", None) is not None:
        base = base.replace(keep_prob=args.keep_prob)
    if inp.network is not None and l2_flags(args):
        base = base.replace(**l2_flags(args))
    # masks not in the file: drawn from its mask_seed, else from --seed (the course's draw)
    seed = inp.mask_seed if inp.mask_seed is not None else args.seed
    net, given, _, _ = given_values(base, inp.values, seed if base.keep_prob is not None else None)
    X, Y = given[("X", None)], given[("Y", None)]
    params = {k: v for k, v in given.items() if k[0] in layers.given()}  # parameters and fixed masks
    return net, model.Instance(tuple(int(s) for s in net.layers), model.example_count(net, X),
                               X, Y, params)


def _with_keep_prob(args, build):
    """The network of ``build()`` with ``--keep-prob`` (derive.cli.common's dropout_flags still
    refuses it for this command, from before gradcheck held the masks fixed: read here)."""
    keep, args.keep_prob = getattr(args, "keep_prob", None), None
    try:
        net = build()
    finally:
        args.keep_prob = keep
    return net if keep is None else net.replace(keep_prob=keep)


def load_impl(spec: str):
    """``module:function`` or ``path/to/file.py:function`` -> the function (the user's own code,
    imported at their explicit request). What ``--impl`` executes, in derive's own process, with
    no sandbox and no limit on what the code does (files, network, ``os._exit``):

    - the module is imported once, as Python's ``import`` does: its top-level code runs, and so
      does everything it imports. A path to a ``.py`` file is loaded under its file name (its
      folder is not added to ``sys.path``); a module name is looked up with the current
      directory first on ``sys.path``, as ``python -m`` would;
    - the function is called once, as ``function(params, X, Y)``: ``params`` a dict
      ``{"W1": ..., "b1": ..., "W2": ...}`` of float64 numpy arrays (copies of the parameters,
      in the spec's convention), ``X`` and ``Y`` copies of the inputs and targets (n[0]×m and
      n[L]×m in the columns convention). It returns a dict ``{"dW1": ..., "db1": ...}`` of real
      arrays (or nested lists) of the parameters' shapes: the gradients of the cost J as the
      spec defines it. Other keys are ignored (and noted). The central differences never call
      it again: they run derive's own forward pass;
    - an exception, ``sys.exit()`` or Ctrl-C in the import or the call is reported as an error
      naming it (exit code 2; 130 for Ctrl-C), with the traceback of the user's code under
      ``--debug``.
    """
    if ":" not in spec:
        raise DeriveError(f"--impl {spec!r}: write MODULE:FUNCTION, e.g. mynet:backward")
    mod_name, _, fn_name = spec.rpartition(":")
    # here, not at the top: numpy (see run)
    from derive.numbers.usercode import user_code

    with user_code(f"--impl: importing {mod_name!r}",
                   f"importing {mod_name!r} (--impl runs the module's top-level code)"):
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
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise DeriveError(f"--impl: {mod_name!r} has no function {fn_name!r}")
    return fn
