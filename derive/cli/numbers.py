"""`derive numbers`: a worked example with numbers, and a check of a student's numbers."""

from __future__ import annotations

import argparse

from derive.cli.common import add_format_arguments, add_spec_arguments, l2_flags, takes_file
from derive.errors import DeriveError, SpecError

NAME = "numbers"
HELP = "a worked example with numbers (forward and backward), and a check of a student's numbers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    takes_file(p.add_argument(
        "file", nargs="?", metavar="FILE",
        help="JSON, TOML or .npz: network, values (X, Y, W1, b1, ... and cache values Z1, A1, "
             "dA1, dZ1), optional student, tolerance"))
    takes_file(p.add_argument(
        "--latex", metavar="FILE.tex",
        help="a LaTeX fragment with bmatrix values (decimal commas allowed); the network "
             "from the flags (sizes inferred from the values if --layers is omitted)"))
    add_spec_arguments(p)
    add_format_arguments(p, ("text", "latex", "json"))
    p.add_argument("--tolerance", type=float, metavar="REL",
                   help="also accept a student value within this relative tolerance")
    p.add_argument("--no-student", action="store_true", help="ignore the student's values")
    p.add_argument("--layer", action="store_true",
                   help="one layer at a time: the values are A_prev (x), W, b, the activation's "
                        "cache Z and the upstream dA (dout) or dZ; gives dZ, dW, db, dA_prev "
                        "(--act: the layer's one activation, default linear; --convention rows: "
                        "CS231n's, no 1/m unless --scale mean)")
    p.add_argument("--learning-rate", "--lr", type=float, metavar="ALPHA", dest="learning_rate",
                   help="add the update step W[l] − α dW[l], b[l] − α db[l]")
    p.add_argument("--mask-seed", type=int, metavar="SEED", dest="mask_seed",
                   help="with --keep-prob: draw the dropout masks not given (D1, D2, ...) as the "
                        "course does: np.random.seed(SEED), then D[l] = np.random.rand(...) < "
                        "keep_prob layer by layer")
    p.add_argument("--derivative-from", choices=("Z", "A"), default="Z",
                   help="with a given cache: g′ from Z[l] (default, the deep network's "
                        "relu_backward, sigmoid_backward) or from A[l] (1 − A², A(1 − A), and "
                        "dZ[L] = A[L] − Y: the planar network's backward_propagation)")
    p.add_argument("--seed", type=int, default=None,
                   help="a CNN spec (--spec cnn.toml, no FILE): the seed of the worked example's "
                        "drawn instance (default 0)")


#: the spec families besides dense, and what runs them (derive.cli._family.dispatch)
FAMILIES = {
    "cnn": "derive.conv.numbers_cli:numbers",
    "rnn": "derive.rnn.cli:numbers",
}


def run(args: argparse.Namespace) -> int:
    from derive.cli._family import dispatch

    other = dispatch(args, FAMILIES)
    if other is not None:
        return other
    if args.seed is not None:
        raise DeriveError("--seed draws a CNN spec's worked example; a dense network's numbers "
                          "come from FILE")
    # here, not at the top: these load SymPy and numpy, and `derive --help` imports every command
    from derive.network.spec import Network
    from derive.numbers.files import read_file
    from derive.numbers.render import render_check_text, render_json, render_latex, render_text
    from derive.numbers.student import check_student
    from derive.numbers.worked import worked_example

    if bool(args.file) == bool(args.latex):
        raise DeriveError("give one input: FILE (JSON or TOML) or --latex FILE.tex")
    inp = read_file(args.latex, latex=True) if args.latex else read_file(args.file)
    flags = args.spec or args.layers or args.act or args.loss or args.convention or args.scale
    if args.layer:
        net = _layer_network(args, inp)
    elif inp.network is not None and flags:
        raise SpecError("the file has a [network] table: give the network there or by flags, not both")
    elif inp.network is not None:
        try:
            net = Network.from_mapping(inp.network, where=args.file)
        except SpecError as exc:  # name the file, as a --spec error does
            if str(exc).startswith(str(args.file)):
                raise
            raise SpecError(f"{args.file}, [network]: {exc}") from None
    elif args.spec:
        net = Network.from_toml(args.spec)
    elif args.act:
        layers = args.layers or ",".join("?" for _ in range(len(args.act.split(",")) + 1))
        net = Network.from_strings(layers, args.act, args.loss, args.convention, args.scale)
    else:
        raise SpecError("no network: give a [network] table in the file, or --act relu,sigmoid "
                        "--loss mse (and --layers 3,3,1)")
    if args.mask_seed is not None and not 0 <= args.mask_seed < 2**32:
        raise SpecError(f"--mask-seed {args.mask_seed} must be a whole number in [0, 2**32)")
    extra = cost_flags(args)
    if extra:  # --l2, --l2-form, --l2-layers, --keep-prob on the network from the file or flags
        net = net.replace(**extra)
    w = worked_example(net, inp.values, input_notes=inp.notes, learning_rate=args.learning_rate,
                       derivative_from=args.derivative_from,
                       mask_seed=args.mask_seed if args.mask_seed is not None else inp.mask_seed)
    tol = args.tolerance if args.tolerance is not None else inp.tolerance
    if tol is not None and not 0 <= tol < 1:
        raise DeriveError(f"--tolerance {tol:g} must lie in [0, 1)")
    report = None
    if inp.student and not args.no_student:
        report = check_student(w, inp.student, tol)
    if args.format == "json":
        print(render_json(w, report))
    elif args.format == "latex":
        print(render_latex(w))
    else:
        print(render_text(w))
        if report is not None:
            print()
            print(render_check_text(report))
    if report is None:
        return 0
    return 0 if report.all_right else 1


def cost_flags(args: argparse.Namespace) -> dict[str, str]:
    """The L2, dropout and batch-norm flags as Network keywords (read here: derive.cli.common's
    dropout_flags refuses --keep-prob for this command, from before numbers took masks)."""
    keep, bn = getattr(args, "keep_prob", None), getattr(args, "batchnorm", None)
    return {**l2_flags(args), **({} if keep is None else {"keep_prob": keep}),
            **({} if bn is None else {"batchnorm": bn})}


def _layer_network(args: argparse.Namespace, inp):
    """The one-layer network of ``--layer``: no loss (the upstream gradient is given), the
    activation of --act (linear by default), sizes from the values; rows default to scale sum."""
    from derive.network.spec import Network
    from derive.numbers.layer import default_scale

    if args.loss or args.spec or (args.act and "," in args.act):
        raise SpecError("--layer is one layer: give one activation (--act relu) and no loss")
    if inp.network is not None:
        raise SpecError("--layer takes the layer's activation by flags, not a [network] table")
    convention = args.convention or "columns"
    return Network.from_strings(args.layers or "?,?", args.act or "linear", None, convention,
                                args.scale or default_scale(convention))
