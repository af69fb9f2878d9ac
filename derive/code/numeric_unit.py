"""One unit of a snippet judged by its numbers, where the symbolic reading cannot judge it
(docs/code.md, "Numeric reading"): a gradient the formula reader could not read, and the loss a
function returns (recognised among the catalogue's losses and L2 forms, and then the loss every
gradient of the function is judged against).

The unit runs on :data:`~derive.code.numeric_check.SEEDS`' instances of the network; a gradient
is ``correct`` when its value matches the engine's on every instance.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

import numpy as np
import sympy as sp

from derive.check.verdict import Mistake, Verdict
from derive.code import numeric_check as N
from derive.code.known import KNOWN
from derive.code.numeric_table import CodeFailure
from derive.code.result import GradientResult
from derive.errors import DeriveError, ResourceLimit
from derive.network.penalty import gradient_coefficient
from derive.network.spec import Network
from derive.network.spec import m as m_symbol

_ENTRY = re.compile(r"^(\w+)(?:\[(?:'([^']*)'|(-?\d+))\])?$")
_NEEDS_LAYER = ("linear_cache", "activation_cache", "layer_cache", "activation")


def returns_loss(node) -> bool:
    return isinstance(node, ast.FunctionDef) and any(
        isinstance(n, ast.Return) and n.value is not None and any(
            isinstance(e, ast.Name) and N.LOSS_NAMES.match(e.id)
            for e in (n.value.elts if isinstance(n.value, ast.Tuple) else [n.value]))
        for n in ast.walk(node))


def wanted(node, results: list[GradientResult]) -> bool:
    """Whether a numeric reading has something to add: a gradient the symbolic reading could
    not read, or a loss the function returns."""
    if not isinstance(node, ast.FunctionDef):
        return False
    return returns_loss(node) or any(r.verdict.verdict == "parse_error" for r in results)


_EXAMPLES = re.compile(r"(?i)^(n|m|num_train|num_examples|n_samples|num_samples|batch_size|"
                       r"n_examples|num_train_examples)$|shape\[0\]")


def _loops_over_examples(node) -> bool:
    """A ``for`` over ``range(N)`` (N the number of examples: ``X.shape[0]``, ``num_train``)."""
    sizes = {t.id for n in ast.walk(node) if isinstance(n, ast.Assign) and
             "shape[0]" in ast.unparse(n.value) for t in ast.walk(n.targets[0])
             if isinstance(t, ast.Name)}
    for n in ast.walk(node):
        if isinstance(n, ast.For) and isinstance(n.iter, ast.Call) and n.iter.args:
            arg = ast.unparse(n.iter.args[-1])
            if _EXAMPLES.search(arg) or arg in sizes:
                return True
    return False


def _why(node, results: list[GradientResult], problems: list[str]) -> str:
    text = " ".join([r.verdict.message for r in results] + problems)
    if _loops_over_examples(node) or re.search(r"loop over|range\(N\)", text):
        return "checked numerically: the loop over examples has no formula form"
    if "branch" in text:
        return "checked numerically: an if on the arrays' values has no formula form"
    return "checked numerically: this code has no formula form derive reads"


def _value(names: dict, gname: str):
    hit = _ENTRY.match(gname)
    if hit is None or hit.group(1) not in names:
        return None
    v = names[hit.group(1)]
    key = hit.group(2) if hit.group(2) is not None else (
        int(hit.group(3)) if hit.group(3) is not None else None)
    if key is None:
        return v
    try:
        return v[key]
    except (KeyError, IndexError, TypeError):
        return None


def judge(src, fname: str, node, roles: dict, net: Network | None, layer: int | None,
          results: list[GradientResult], problems: list[str],
          quantity: Callable) -> list[GradientResult]:
    """``results`` with the numeric verdicts put in (and a ``loss`` result added)."""
    if net is None or net.loss is None or any(net.activation(l) is None
                                              for l in range(1, net.L + 1)):
        return results
    params = [a.arg for a in node.args.args]
    entry = KNOWN.get(fname)
    has_reg = any(p in N.REG_NAMES for p in params) or "self" in params and \
        "reg" in ast.unparse(node)
    reg = (float(net.l2) if net.l2 is not None and not net.l2_symbolic else N.REG_VALUE) \
        if has_reg else None
    layers = [layer] if layer is not None else (
        [l for l in range(1, net.L + 1) if net.kinds[l - 1] == "batchnorm"]
        if "batchnorm_cache" in roles.values() else
        list(range(1, net.L + 1)) if any(r in _NEEDS_LAYER for r in roles.values()) else [None])
    if not layers:
        return results
    try:
        cases = N.cases(net, N.wants_labels(net, params, roles),
                        entry.bias if entry else True, reg)
        for case in cases:
            case.env = N.judged_values(net, case)
        extra = N.known_sources()
        runs = {l: [N.run_function(src, fname, node, roles, c, l, extra) for c in cases]
                for l in layers}
    except ResourceLimit as exc:
        problems.append(f"function {fname}: {exc}")
        return results
    except CodeFailure as exc:
        problems.append(f"function {fname}: the numeric reading stopped: {exc}")
        if exc.numpy_error:
            return [_failed(r, exc) for r in results]
        return results
    except DeriveError as exc:
        problems.append(f"function {fname}: the numeric reading stopped: {exc}")
        return results
    why = _why(node, results, problems)
    judged_net, out, notes = net, list(results), [why]
    first = runs[layers[0]]
    found = [N.returned_loss(node, run.value) for run in first]
    losses = [lv for lv in found if lv is not None]
    if len(losses) == len(found):
        match, nearest, detail = N.recognise([(run, lv[1]) for run, lv in
                                              zip(first, losses, strict=True)])
        name = losses[0][0]
        line = N.last_line(node, name)
        if match is not None:
            judged_net = match.network(net, reg)
            text = f"loss: {match.describe()}"
            out.append(GradientResult(line, name, Verdict("correct", "loss", message=text,
                                                          notes=(why,)), fname))
            notes.append(f"each gradient is judged against the loss the code computes ({text})")
        else:
            near = f"; the nearest is {nearest.describe()}" if nearest else ""
            out.append(GradientResult(line, name, Verdict(
                "not_equivalent", "loss", message=f"the loss the code computes matches no "
                f"catalogue loss with any L2 form{near}", counterexample=detail or None,
                notes=(why,)), fname))
            notes.append("the loss matches no catalogue loss: each gradient is judged against "
                         "the network given")
    changed = judged_net != net
    if changed:
        for case in cases:
            case.env = N.judged_values(judged_net, case)
    final = []
    for r in out:
        if r.target == "loss" or r.verdict.verdict == "correct" and not changed:
            final.append(r)
            continue
        again = _numeric(r, runs, quantity, judged_net, tuple(notes))
        if changed or r.verdict.verdict == "parse_error" or again.verdict.verdict == "correct":
            final.append(again)  # a symbolic 'wrong' stands (with its diagnosis) unless the
        else:  # numbers say correct: an earlier line of the name holds it (dhidden[a1 <= 0])
            final.append(r)
    return final


def _against(r: GradientResult, q, key, rs: list, line: int, shown: str, notes: tuple,
             net: Network):
    """None when the value at ``line`` matches on every instance; else the wrong result (or
    "unreadable" when there is no value to compare)."""
    for k, run in enumerate(rs):
        got = run.snapshots.get((line, shown))
        if got is None:
            got = _value(run.names, r.name)
        if got is None or not isinstance(got, np.ndarray | float | int | np.generic):
            return "unreadable"
        expected = run.case.env.get(key)
        if expected is None:
            return "unreadable"
        verdict, counter, message = N.compare(got, expected)
        if verdict == "not_equivalent" and q.base in ("dZ", "dA") and net.scale == "dZ" and \
                N.compare(got, expected * run.case.m)[0] == "correct":
            continue  # the per-example gradients (scale mean's dZ): the 1/N comes later
        if verdict != "correct":
            if counter is not None:
                counter = {"instance": k, "m": run.case.m, **counter}
            mistakes = diagnose(q, rs, line, shown, r.name, net) \
                if verdict == "not_equivalent" else ()
            return GradientResult(r.line, r.name, Verdict(
                verdict, q.to_text() if hasattr(q, "to_text") else str(q), mistakes=mistakes,
                message=message, counterexample=counter, notes=notes), r.function)
    return None


def _another_quantity(rs: list, line: int, shown: str, name: str, key) -> bool:
    """Whether the value at ``line`` is, on every instance, the true value of a quantity other
    than ``key`` (``dhidden[a1 <= 0] = 0`` makes dA[1] into dZ[1]): then the name held ``key``
    at an earlier line, and that line is judged. A value that is no quantity at all (``dW *= 2``
    after a right dW) is the code's result, and wrong."""
    for run in rs:
        got = run.snapshots.get((line, shown))
        got = _value(run.names, name) if got is None else got
        if not isinstance(got, np.ndarray) or not any(
                k != key and np.shape(v) == got.shape and N.close(got, v)
                for k, v in run.case.env.items() if isinstance(v, np.ndarray)):
            return False
    return True


def diagnose(q, rs: list, line: int, shown: str, name: str,
             net: Network) -> tuple[Mistake, ...]:
    """The mistake of a value read numerically (a loop over the examples has no formula to
    edit), where one explains it on every instance: the whole value a constant k times the
    gradient (``wrong_scale``), or, for a dW that ``net`` (the network judged, with the loss the
    code computes) regularises, its L2 term missing (``missing_l2_term``) or k W in place of the
    penalty's c W (``wrong_scale``)."""
    pairs = []
    for run in rs:
        got = run.snapshots.get((line, shown))
        got = _value(run.names, name) if got is None else got
        want = run.case.env.get((q.base, q.layer))
        if not isinstance(got, np.ndarray) or want is None or got.shape != np.shape(want):
            return ()
        pairs.append((got, np.asarray(want, float), run.case))
    if not pairs:
        return ()
    ks = _factors([(g, w) for g, w, _ in pairs])
    ms = [float(c.m) for _, _, c in pairs]
    if ks is not None and np.allclose(ks, ms, rtol=1e-8) and len(set(ms)) > 1:
        return (Mistake("missing_scale", f"The factor 1/m is missing: the value is m times "
                                         f"{q.to_text()} on every instance (m examples)."),)
    if ks is not None and np.allclose(ks, [1 / x for x in ms], rtol=1e-8) and len(set(ms)) > 1:
        return (Mistake("extra_scale", f"There is a factor 1/m too many: the value is "
                                       f"{q.to_text()}/m on every instance."),)
    if ks is not None and np.allclose(ks, ks[0], rtol=1e-8) and not np.isclose(ks[0], 1.0):
        k = ks[0]
        if np.isclose(k, -1.0):
            return (Mistake("sign_error", f"The sign is flipped: the value is −{q.to_text()} on "
                                          "every instance."),)
        how = (f"a factor {_factor(k)[1:]} too many" if k > 1 else
               f"a factor {_factor(1 / k)[1:]} too few" if k > 0 else "its sign flipped as well")
        return (Mistake("wrong_scale", f"The value is {_factor(k)} the gradient {q.to_text()} "
                                       f"on every instance: {how}."),)
    case = pairs[0][2]
    if q.base != "dW" or net.l2 is None or case.reg is None or not net.regularised(q.layer):
        return ()
    coef = float(gradient_coefficient(net.l2_form, sp.Float(case.reg), net.cost_is_mean)
                 .subs(m_symbol, case.m))
    data = [(g, w - coef * c.env["W", q.layer], c.env["W", q.layer]) for g, w, c in pairs]
    if all(N.close(g, d) for g, d, _ in data):
        return (Mistake("missing_l2_term", f"The L2 term is missing: the cost's penalty adds "
                                           f"{coef:g} W[{q.layer}] to {q.to_text()}."),)
    kw = _factors([(g - d, W) for g, d, W in data])
    term = kw[0] if kw is not None and np.allclose(kw, kw[0], rtol=1e-8) else None
    if term is not None and coef and not np.isclose(term, coef):
        return (Mistake("wrong_scale", f"The L2 term is {term:g} W[{q.layer}] where the cost's "
                                       f"penalty gives {coef:g} W[{q.layer}] "
                                       f"({_factor(term / coef)} the right factor)."),)
    return ()


def _factors(pairs: list) -> list[float] | None:
    """Per pair, k with got = k · want (to a relative 1e-8); None if some pair is not so."""
    ks = []
    for got, want in pairs:
        den = float(np.vdot(want, want))
        if den == 0.0:
            return None
        k = float(np.vdot(got, want)) / den
        if not np.allclose(got, k * want, rtol=1e-8, atol=1e-12 * max(1.0, abs(k))):
            return None
        ks.append(k)
    return ks or None


def _factor(k: float) -> str:
    """×2, ×1/2, ×(−1): how a factor reads."""
    for d in (1, 2, 3, 4, 5, 6, 8, 10, 100):
        n = k * d
        if abs(n - round(n)) < 1e-9 * max(1.0, abs(n)):
            n = round(n)
            text = f"{n}" if d == 1 else f"{n}/{d}"
            return f"×{text}" if n > 0 else f"×({text})"
    return f"×{k:.6g}"


def _failed(r: GradientResult, exc: CodeFailure) -> GradientResult:
    if r.verdict.verdict != "parse_error":
        return r
    v = Verdict("shape_error", r.verdict.target,
                message=f"{exc} (the code does not fit the network's shapes)",
                notes=("checked numerically",))
    return GradientResult(r.line, r.name, v, r.function, r.uses_wrong)


def _numeric(r: GradientResult, runs: dict, quantity: Callable, net: Network,
             notes: tuple) -> GradientResult:
    for l, rs in runs.items():
        q = quantity(net, l, r.name)
        if q is None:
            continue
        key = ("X", None) if (q.base, q.layer) == ("A", 0) else (q.base, q.layer)
        shown = r.name.replace('"', "'")
        lines = sorted({ln for ln, nm in rs[0].snapshots if nm == shown and ln <= r.line},
                       reverse=True)
        lines = [r.line] + [ln for ln in lines if ln != r.line]  # its last line first; an
        first_failure = None  # earlier one holds it when a later line made it another quantity
        for ln in lines:
            failure = _against(r, q, key, rs, ln, shown, notes, net)
            if failure is None:
                if ln == r.line or _another_quantity(rs, r.line, shown, r.name, key):
                    first_failure = None
                break
            if failure == "unreadable":
                return r
            first_failure = first_failure or failure
        if first_failure is not None:
            return first_failure
        target = q.to_text() if hasattr(q, "to_text") else str(q)
        last = Verdict("correct", target, message=f"{target}: correct (numerically, on "
                       f"{len(rs)} instances)", notes=notes)
        r = GradientResult(r.line, r.name, last, r.function)
    return r


__all__ = ["judge", "returns_loss", "wanted"]
