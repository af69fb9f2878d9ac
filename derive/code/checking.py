"""``check_code``: every gradient a snippet computes, checked on its own by the formula checker.

The snippet is split into units: each function (methods included) and the lines outside any
function. A unit is read (:mod:`.reader`) once per network and layer the checker asks about
(memoized), and each gradient it computes becomes an :class:`~derive.parse.Equation` for
:func:`derive.check.checker.check_with`, so a snippet's gradient gets exactly the verdict, the
diagnosis and the layer handling (names without an index are checked at every layer) that the
same formula gets from ``derive check``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from derive.check.checker import check_with
from derive.check.dialect import ROWS_NOTE
from derive.check.verdict import Verdict
from derive.code import bn_cache, depends, layout, numeric_unit, returns
from derive.code.evaluate import WrongValue
from derive.code.known import ACTIVATION_NAMES, KNOWN, pinned_activation
from derive.code.loop_names import FORWARD, JUDGED
from derive.code.reader import Reader, Reading
from derive.code.result import CodeResult, GradientResult
from derive.code.source import Source, read_source
from derive.core.names import m
from derive.errors import DeriveError, ParseError, ResourceLimit
from derive.network.layout import LAYOUTS
from derive.network.spec import Network
from derive.parse import Equation, parse_expression
from derive.parse.dialects import DIALECTS, detect
from derive.parse.names import GenericLayerNeeded, LayerOutOfRange

MODULE = "<module>"


def check_code(code: str, network: Network | None = None, *, layer: int | None = None,
               names: Mapping | None = None, dialect: str | None = None,
               loss: str | None = None, convention: str | None = None,
               scale: str | None = None, l2=None, l2_form: str | None = None,
               l2_layers=None, keep_prob=None, batchnorm=None) -> CodeResult:
    """Check every gradient ``code`` computes (a function, several, or lines of numpy code)
    against the derivation of ``network`` (without one, a generic network as for
    :func:`derive.check`). ``layer`` pins the layer of names without an index; ``names`` binds
    the snippet's variables to quantities (``{"h1": "A[1]"}``); ``dialect`` forces a dialect.
    Without a network, ``scale`` defaults to ``mean`` in columns and ``dZ`` in rows (CS231n's:
    the 1/N inside dscores), ``l2``, ``l2_form``, ``l2_layers`` give it an L2 term,
    ``keep_prob`` dropout and ``batchnorm`` batch norm on its layers (symbolic sizes).
    Without a ``convention`` (None) and without a network, code whose functions are CS231n's
    (``batchnorm_backward(dout, cache)``) is read in rows, CS231n's layout (:mod:`.layout`),
    with a note; any other code in columns. ``convention="auto"`` (the CLI's, when no
    --convention is given) does the same to a given network; None keeps its convention.

    >>> code = '''
    ... def linear_backward(dZ, cache):
    ...     A_prev, W, b = cache
    ...     m = A_prev.shape[1]
    ...     dW = 1 / m * np.dot(dZ, A_prev.T)
    ...     db = 1 / m * np.sum(dZ, axis=1, keepdims=False)
    ...     dA_prev = np.dot(dZ, W)
    ...     return dA_prev, dW, db
    ... '''
    >>> out = check_code(code, layer=2)
    >>> [(r.line, r.name, r.verdict.verdict) for r in out.results]
    [(5, 'dW', 'correct'), (6, 'db', 'correct'), (7, 'dA_prev', 'shape_error')]
    """
    try:
        src = read_source(code)
    except DeriveError as exc:
        if exc.exit_code != 2:
            raise
        return CodeResult([], (str(exc),))
    if layer is not None and (type(layer) is not int or layer < 1):
        return CodeResult([], (f"layer must be a layer number (1, 2, ...), not {layer!r}",))
    functions = _functions(src.tree)
    try:  # a key naming one of the snippet's functions binds what it returns (returns.py)
        bound = returns.split(names, functions)
    except ParseError as exc:
        return CodeResult([], (str(exc),))
    results: list[GradientResult] = []
    problems: list[str] = list(src.refused)
    notes: list[str] = []  # what was read but not checked (dX): not a problem of the code
    only_loops = bool(functions) and set(functions) <= JUDGED | FORWARD  # conv/RNN loops alone
    if (convention == "auto" or (convention is None and network is None)) and not only_loops:
        convention, network = _layout(src.tree, network, dialect, scale, notes)
    elif convention is None:
        convention = "columns"  # a given network keeps its own
    rows = convention in LAYOUTS and not LAYOUTS[convention].columns
    if scale is None:
        scale = "dZ" if rows else "mean"
        if network is None and rows:
            notes.append(ROWS_NOTE)
    generic = dict(loss=loss, convention=convention, scale=scale, l2=l2, l2_form=l2_form,
                   l2_layers=l2_layers, keep_prob=keep_prob, batchnorm=batchnorm)
    internal = False
    taken = frozenset(JUDGED & set(functions))  # the course's conv/pool/RNN loops (their reading)
    if taken:
        taken, internal = _loop_reading(src, functions, results, problems, notes)
    builders = {bn_cache.forward_name(f, functions) for f in functions} - {None}
    for fname, node in _units(src.tree):
        if fname in taken:
            if fname == MODULE:
                notes.append("the lines outside any function are not read beside the course's "
                             "conv/RNN functions")
            continue
        where = "the lines outside any function" if fname == MODULE else f"function {fname}"
        try:
            if fname in builders:  # a forward pass read for the cache it builds: its own lines
                found = _check_unit(src, functions, fname, node, network, layer, bound,
                                    dialect, generic, [], notes)  # are not the code checked
                results += found
                if not found:
                    notes.append(f"{fname} is read for the cache it builds")
                continue
            results += _by_reading(src, functions, fname, node, network, layer, bound,
                                   dialect, generic, problems, notes)
        except ResourceLimit as exc:
            problems.append(str(exc))
        except RecursionError:
            problems.append(f"{where}: nests too deeply to read")
        except Exception as exc:  # noqa: BLE001 - a bug in derive loses one unit, not the rest
            internal = True
            problems.append(f"{where}: a bug in derive stopped the reading "
                            f"({type(exc).__name__}: {exc}); please report it")
    if not results and not problems:
        problems.append(nothing_read(src.tree))
    return CodeResult(results, tuple(problems), internal, tuple(notes))


def _loop_reading(src: Source, functions, results: list, problems: list[str],
                  notes: list[str]) -> tuple[frozenset[str], bool]:
    """The course's conv_backward, pool_backward, rnn_cell_backward, rnn_backward (and their
    helpers) judged by :mod:`.conv_reading`; the functions it took, and whether derive failed."""
    from derive.code import conv_reading

    taken = conv_reading.units(functions) | {MODULE}
    try:
        found, more, said = conv_reading.judge(src, functions)
    except ResourceLimit as exc:
        problems.append(str(exc))
        return taken, False
    except Exception as exc:  # noqa: BLE001 - a bug in derive is reported, not raised
        problems.append(f"the conv/RNN functions: a bug in derive stopped the reading "
                        f"({type(exc).__name__}: {exc}); please report it")
        return taken, True
    results += found
    problems += more
    notes += said
    return taken, False


def _layout(tree: ast.Module, network: Network | None, dialect: str | None, scale,
            notes: list[str]) -> tuple[str, Network | None]:
    """(convention, network) when the user gave no convention: rows for CS231n's functions
    (unless another dialect was asked for), the network turned to rows (and to scale dZ, as
    --convention rows reads it, when no scale was given), said in a note; else columns."""
    header = layout.rows_function(tree)
    asked = DIALECTS.get(dialect) if dialect is not None else None
    if header is None or (asked is not None
                          and (asked.convention is None or LAYOUTS[asked.convention].columns)):
        return "columns", network
    if network is not None:
        if not network.layout.columns:
            return "rows", network
        network = network.replace(convention="rows")
        if scale is None and network.scale != "dZ":
            network = network.replace(scale="dZ")
            notes.append(ROWS_NOTE)
    notes.append(layout.rows_note(header))
    return "rows", network


def nothing_read(tree: ast.Module) -> str:
    """Why no gradient came out of code that was read without an error: the names it assigns
    (with their lines), none of which derive knows as a gradient, and how to bind one."""
    assigned: dict[str, int] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            while isinstance(t, ast.Subscript | ast.Attribute):
                t = t.value
            for name in ([t] if isinstance(t, ast.Name) else
                         [e for e in getattr(t, "elts", ()) if isinstance(e, ast.Name)]):
                assigned.setdefault(name.id, node.lineno)
    if not assigned:
        return "the code assigns nothing: give the lines that compute the gradients"
    shown = ", ".join(f"{n} (line {k})" for n, k in list(assigned.items())[:8])
    first = next(iter(assigned))
    return (f"none of the names the code assigns is a gradient derive knows: {shown}; bind "
            f"the one that holds a gradient, e.g. --bind \"{first}=dW[1]\" (batch field "
            "\"names\"), or name it as the course does (dW1, grads['dW1'])")


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    out: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            out.update({n.name: n for n in node.body if isinstance(n, ast.FunctionDef)})
    return out


def _units(tree: ast.Module) -> list[tuple[str, object]]:
    units: list[tuple[str, object]] = []
    loose = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)
             and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
             and not isinstance(n, ast.Import | ast.ImportFrom)]
    if loose:
        units.append((MODULE, loose))
    units += list(_functions(tree).items())
    return units


def _by_reading(src, functions, fname, node, network, layer, bound, dialect, generic,
                problems: list[str], notes: list[str]) -> list[GradientResult]:
    """The unit's results; for a batch-norm backward whose cache has entries of two meanings
    and no forward to say which (:mod:`.bn_cache`), under each reading, the usual one first:
    the first under which every gradient is correct, said so, else the usual one's."""
    readings = bn_cache.readings(node) if "batchnorm_cache" in _roles(fname, node).values() \
        and bn_cache.forward_name(fname, functions) is None else []
    if len(readings) < 2:
        return _check_unit(src, functions, fname, node, network, layer, bound, dialect,
                           generic, problems, notes)
    first: tuple[list[GradientResult], list[str]] | None = None
    for reading in readings:
        token = bn_cache.READING.set(tuple(reading.items()))
        try:
            found: list[str] = []
            out = _check_unit(src, functions, fname, node, network, layer, bound, dialect,
                              generic, found, notes)
        finally:
            bn_cache.READING.reset(token)
        first = first or (out, found)
        if out and all(r.verdict.verdict == "correct" for r in out):
            usual = reading == readings[0]
            why = (f"read with the {bn_cache.describe(reading)}" if usual else
                   f"read with the {bn_cache.describe(reading)}: correct under that reading, "
                   f"not under the usual one ({bn_cache.describe(readings[0])})")
            notes.append(f"function {fname}: the cache's meaning is not given (no forward "
                         f"function builds it here): {why}; give the forward to settle it")
            problems += found
            return out
    assert first is not None
    notes.append(f"function {fname}: the cache's meaning is not given (no forward builds it "
                 f"here): read with the {bn_cache.describe(readings[0])}; no other reading "
                 f"({'; '.join(bn_cache.describe(r) for r in readings[1:])}) makes it correct")
    problems += first[1]
    return first[0]


def _roles(fname: str, node) -> dict[str, str]:
    if not isinstance(node, ast.FunctionDef):
        return {}
    known = KNOWN.get(fname)
    table = known.roles if known else {}
    return {a.arg: table[a.arg] for a in node.args.args if a.arg in table}


def _branch_activations(node) -> list[str]:
    """The activation names a unit compares with (``activation == "relu"``), in order."""
    body = node if isinstance(node, list) else [node]
    found: list[str] = []
    for top in body:
        for n in ast.walk(top):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and \
                    n.value in ACTIVATION_NAMES and n.value not in found:
                found.append(n.value)
    return found


def _loose_batchnorm(node, network) -> dict[str, str]:
    """Lines outside any function that unpack a batch-norm ``cache`` they never assign (a
    posted ``batchnorm_backward`` body), on a network with batch norm: batchnorm_backward's
    roles, its cache read by the names unpacked."""
    if not isinstance(network, Network) or "batchnorm" not in network.kinds or \
            not isinstance(node, list):
        return {}
    assigned = {t.id for n in node for s in ast.walk(n) if isinstance(s, ast.Assign)
                for t in s.targets if isinstance(t, ast.Name)}
    read = [e for n in node for e in bn_cache.entries_read(n)]
    if "cache" in assigned or not read or any(bn_cache.meaning(e) is None for e in read):
        return {}
    return dict(KNOWN["batchnorm_backward"].roles)


def _check_unit(src: Source, functions, fname, node, network, layer, names, dialect, generic,
                problems: list[str], skipped: list[str]) -> list[GradientResult]:
    roles = _roles(fname, node) or (_loose_batchnorm(node, network) if fname == MODULE else {})
    pin = pinned_activation(fname) if fname != MODULE else None
    branches = _branch_activations(node) if "activation" in roles.values() else []
    if "activation" in roles.values() and not branches:
        branches = ["relu", "sigmoid"]  # the course's body (a call of the known function)
    check_net = network
    notes: list[str] = []
    if network is None and (pin or branches):
        acts = [pin] if pin else branches
        depth = max(4, len(acts))
        check_net = Network(depth=depth, activations=[acts[i % len(acts)] for i in range(depth)],
                            **{k: v for k, v in generic.items() if v is not None})
        notes.append(f"checked on a generic {depth}-layer network whose activations are "
                     f"{', '.join(map(str, check_net.activations))} (give the network to check yours)")
    if pin:
        notes.append(f"{fname} computes {pin}'s derivative itself: it is checked at the layers "
                     f"whose activation is {pin}")

    seen: dict = {}
    one = _one_example(node, dialect, network)
    known = KNOWN.get(fname) if fname != MODULE else None
    flipped = {k for k, v in known.outputs.items() if v.endswith(".T")} if known else set()

    def read(net, l) -> tuple[Reading, bool]:
        key = (type(net), net, l)
        if key not in seen:
            try:
                seen[key] = (True, _read(src, functions, fname, node, roles, pin, net, l,
                                         dialect, names))
            except DeriveError as exc:
                seen[key] = (False, exc)
        ok, out = seen[key]
        if not ok:
            raise out
        return out

    ref_net = check_net if check_net is not None else Network(
        depth=4, **{k: v for k, v in generic.items() if v is not None})
    try:
        reference, generic_l = read(ref_net, layer)
    except ResourceLimit:
        raise
    except DeriveError as exc:
        problems.append(f"{_where(fname)}: {exc}")
        return []
    problems += [f"{_where(fname)}: {n}" for n in reference.notes if n.startswith("line ")]
    out = []
    for entry in list(reference.entries.values()):
        gname = entry.name

        def parse(net, l, gname=gname):
            reading, needs_layer = read(net, l)
            found = reading.entries.get(gname)
            if found is None and l is None and needs_layer:  # the first layer that has it
                for k in range(1, net.L + 1):
                    try:
                        reading, _ = read(net, k)
                    except DeriveError:
                        continue
                    found = reading.entries.get(gname)
                    if found is not None:
                        break
            if found is None:
                raise ParseError(f"{gname} is not computed by {_where(fname)} at this layer")
            value = found.value
            if not hasattr(value, "expr"):
                raise value.error
            extra = [n for n in reading.notes if not n.startswith("line ")]
            rhs, target = value.expr, found.quantity
            if gname in flipped:  # propagate's dw is the column dW[1]ᵀ
                rhs = parse_expression("code_rhs.T", net, syntax="text", layer=l,
                                       names={"code_rhs": rhs})
                extra.append(f"{gname} is a column, {target.to_text()}ᵀ: checked as "
                             f"{target.to_text()} = {gname}ᵀ")
            if target.base == "db" and rhs.shape[1] == m:
                rhs, target, why = _columns(net, l, rhs, target, gname, one)
                extra += [why] if why else []
            return Equation(target, rhs, "text", tuple(extra + notes), False,
                            tuple(reading.unindexed.values()) if needs_layer else (), one)

        def target_of(net, l, gname=gname):
            try:
                found = read(net, l)[0].entries.get(gname)
            except DeriveError:
                return None
            return found.quantity if found else None

        try:
            verdict = check_with(parse, check_net, generic, target_of, layer=layer)
        except ResourceLimit:
            raise
        except DeriveError as exc:
            verdict = Verdict("parse_error", message=str(exc))
        verdict = _cannot_run(verdict, entry)
        out.append(GradientResult(entry.line, gname, verdict,
                                  None if fname == MODULE else fname))

    def quantity(net, l, gname):
        try:
            found = read(net, l)[0].entries.get(gname)
        except DeriveError:
            return None
        return found.quantity if found else None

    if fname != MODULE and numeric_unit.wanted(node, out):
        out = numeric_unit.judge(src, fname, node, roles, check_net, layer, out, problems,
                                 quantity)
    return depends.mark(out, reference.entries)


def _one_example(node, dialect: str | None, net: Network | None) -> bool:
    """Whether the unit is one example's code (Nielsen's ``backprop(x, y)``): its dialect,
    forced or recognised from the names the unit writes, is a one-example one."""
    if dialect is None:
        body = node if isinstance(node, list) else [node]
        text = "\n".join(ast.unparse(n) for n in body)
        dialect = detect(text, net.L if net is not None else None)
        params = [a.arg for a in node.args.args] if isinstance(node, ast.FunctionDef) else []
        if dialect == "nielsen" and "X" in params:
            return False  # a mini-batch as the columns of X (a matrix form of network.py)
    found = DIALECTS.get(dialect) if dialect else None
    return bool(found and found.one_example)


def _columns(net: Network, l, rhs, target, gname: str, one: bool):
    """A bias gradient whose value has m columns: for one example (m = 1) its one column is db
    (``nabla_b[-1] = delta``); in a list of a mini-batch's (``nabla_B``, parameters X, Y) the
    per-example gradients, dZ of the layer (the caller sums them). Else as written."""
    if one:
        total = parse_expression("np.sum(code_rhs, axis=1, keepdims=True)", net,
                                 syntax="text", layer=l, names={"code_rhs": rhs})
        return total, target, f"{gname}: one example (m = 1), so its one column is db"
    if "[" in gname and target.layer is not None:
        dz = parse_expression(f"dZ{target.layer}", net, syntax="text")
        return rhs, dz, (f"{gname} has a column per example: read as the per-example "
                         f"gradients dZ[{target.layer}] (summed to db by the caller)")
    return rhs, target, ""


def _cannot_run(verdict: Verdict, entry) -> Verdict:
    """A gradient the code cannot compute at all (it passes a tuple where an array belongs):
    wrong, not unreadable; the message says where and why."""
    error = getattr(entry.value, "error", None)
    if verdict.verdict != "parse_error" or not isinstance(error, WrongValue):
        return verdict
    target = entry.quantity.to_text()
    return Verdict("shape_error", target, message=f"{entry.name} is never computed: the code "
                   f"fails on every instance ({error.message})",
                   notes=("the code raises before it computes this gradient",))


def _where(fname: str) -> str:
    return "the code outside any function" if fname == MODULE else f"function {fname}"


def _read(src, functions, fname, node, roles, pin, net, layer, dialect, names):
    """One reading at ``layer``; with None and names that need a layer, the first layer where
    the unit reads (the checker then asks about each layer)."""
    if layer is not None:
        return _read_at(src, functions, fname, node, roles, pin, net, layer, dialect, names), \
            True
    try:
        return _read_at(src, functions, fname, node, roles, pin, net, None, dialect, names), \
            False
    except GenericLayerNeeded as first:
        for l in range(1, net.L + 1):
            try:
                return _read_at(src, functions, fname, node, roles, pin, net, l, dialect,
                                names), True
            except (GenericLayerNeeded, LayerOutOfRange):
                continue
            except ParseError:
                continue
        raise first from None


def _read_at(src, functions, fname, node, roles, pin, net, layer, dialect, names) -> Reading:
    if pin and layer is not None:
        act = net.activation(layer)
        if act is None or act.name != pin:
            what = "generic" if act is None else act.name
            raise ParseError(f"{fname} computes {pin}'s derivative: layer {layer}'s activation "
                             f"is {what}, not {pin}")
    user, results = names  # the variables' bindings, the functions' bound results
    reader = Reader(src, functions, net, layer, dialect, user, results)
    return reader.run(fname, node, roles)


__all__ = ["check_code"]
