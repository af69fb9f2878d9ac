"""``derive check --code`` on the course's loop-form backward functions: ``conv_backward``,
``pool_backward`` (with ``create_mask_from_window`` and ``distribute_value``),
``rnn_cell_backward`` and ``rnn_backward``.

Each function is run by derive's bounded interpreter (:mod:`.loops`; never by Python) on the
instances of :mod:`.conv_cases`, with the course's caches, and every gradient it returns (the
accumulations dA_prev, dW, db; dxt, da_prev, dWax, dWaa, dba) is compared with derive's numbers
of the derivation. A wrong one is named with the lines that accumulate it, a counterexample (the
sizes, the entry, both values) and, where the numbers show it, the mistake:

| code | what the numbers show |
|---|---|
| ``filter_flipped`` | dA_prev is what the filters turned by 180° give |
| ``wrong_pad_crop`` | the padded gradient is right, its crop back to A_prev's size is not |
| ``missing_stride`` | right at stride 1, wrong at stride 2 |
| ``missing_sum`` | one term kept where the gradient sums them (over t, or over i, h, w) |
| ``missing_tanh_derivative`` | dtanh lacks tanh′ = 1 − a_next² |
| ``tanh_derivative_at_a_prev`` | tanh′ taken at a_prev instead of a_next |
| ``gradient_through_time_dropped`` | each step gets da[:, :, t] without the later steps' da_prevt |
| ``average_not_divided`` | average pooling spreads dA without dividing by f·f |
| ``wrong_helper`` | right with the course's helper in place of the snippet's |
| ``other`` | none of these |
"""

from __future__ import annotations

import ast
import functools

import numpy as np

from derive.check.verdict import Mistake, Verdict
from derive.code import loops
from derive.code.conv_cases import FORWARD, TARGETS, Instance, Target, candidates
from derive.code.result import GradientResult
from derive.code.source import Source
from derive.errors import ResourceLimit

RTOL, ATOL = 1e-7, 1e-9


def units(functions: dict) -> frozenset[str]:
    """The snippet's functions this reading takes over: the course's conv/pool/RNN backward
    functions it defines, and then its forward helpers (read for them, not checked)."""
    judged = {f for f in functions if f in TARGETS}
    return frozenset(judged | (FORWARD & set(functions))) if judged else frozenset()


def judge(src: Source, functions: dict) -> tuple[list[GradientResult], list[str], list[str]]:
    """Every judged function's results (the helpers first: the others use them), the problems
    that stopped one from being read, and notes."""
    results: list[GradientResult] = []
    problems: list[str] = []
    notes: list[str] = []
    order = sorted((f for f in functions if f in TARGETS),
                   key=lambda f: (bool(TARGETS[f].helpers), functions[f].lineno))
    wrong: dict[str, list[GradientResult]] = {}
    for fname in order:
        try:
            found = _judge_function(src, functions, fname, wrong, problems, notes)
        except ResourceLimit as exc:
            problems.append(f"function {fname}: {exc}")
            continue
        wrong[fname] = [r for r in found if r.wrong]
        results += found
    for fname in sorted(FORWARD & set(functions)):
        notes.append(f"{fname} is read as the course's helper, not checked itself")
    return sorted(results, key=lambda r: r.line), problems, notes


def _judge_function(src, functions, fname, wrong, problems, notes) -> list[GradientResult]:
    target = TARGETS[fname]
    node = functions[fname]
    params = [a.arg for a in node.args.args]
    needed = len(target.params) - (1 if "mode" in target.params else 0)
    if len(params) < needed:
        problems.append(f"function {fname}: the course's takes ({', '.join(target.params)}); "
                        f"this one takes ({', '.join(params)}), so it is not read")
        return []
    missing = tuple(h for h in target.helpers if h not in functions)
    defined = tuple(h for h in (*target.helpers, "zero_pad") if h in functions and h != fname)
    out: list[GradientResult] = []
    for mode in target.modes:
        instances = [target.build(case, mode) for case in target.cases]
        runs = [loops.run(src, fname, inst.args, _kwargs(params, mode), missing=missing)
                for inst in instances]
        for k, q in enumerate(target.outputs):
            out.append(_judge_output(src, functions, fname, node, target, mode, q, k, instances,
                                     runs, missing, defined, wrong))
        if fname == "conv_backward":
            notes += _pad0_note(fname, instances, runs, target)
    return out


def _kwargs(params: list[str], mode: str | None) -> dict:
    """pool_backward's mode by its name, or as its third argument under another name."""
    if mode is None:
        return {}
    return {"mode": mode} if "mode" in params else {params[2]: mode} if len(params) > 2 else {}


def _outputs(value, target: Target) -> dict:
    """The returned gradients by the course's names: a tuple by position, a dict by key."""
    if target.returns_dict:
        return dict(value) if isinstance(value, dict) else {}
    items = value if isinstance(value, tuple) else (value,)
    return {q: items[k] for k, q in enumerate(target.outputs) if k < len(items)}


def _written(node: ast.FunctionDef, target: Target, q: str, k: int) -> str:
    """The output's name as the function writes it (``return dA_prev, dW, db``, or the name a
    returned dict's key holds)."""
    if target.returns_dict:
        return loops.dict_entries(node).get(q, q)
    names = loops.returned_names(node)
    return (names[k] if k < len(names) else None) or q


def _judge_output(src, functions, fname, node, target, mode, q, k, instances, runs, missing,
                  defined, wrong) -> GradientResult:
    name = _written(node, target, q, k)
    line = loops.last_write(node, name)
    label = q if mode is None else f"{q} ({mode} pooling)"
    judged = [i for i, inst in enumerate(instances) if inst.case.kind == "judged"]
    bad = [i for i in judged if not _right(runs[i], target, q, instances[i])]
    if not bad:
        return GradientResult(line, name, _correct(label, instances, judged), fname)
    uses = _through_helpers(src, fname, node, target, mode, q, instances, judged, missing,
                            defined, wrong)
    if isinstance(uses, tuple):  # right with the course's helpers: the snippet's are wrong
        return GradientResult(line, name, _correct(label, instances, judged), fname, uses)
    i = bad[0]
    failed = _failure(src, node, name, label, instances[i], runs[i], target, q)
    if failed is not None:
        return GradientResult(line, name, failed, fname)
    got = np.asarray(_outputs(runs[i].value, target)[q], dtype=float)
    right = instances[i].right[q]
    if got.shape != right.shape:
        return GradientResult(line, name, Verdict(
            "shape_error", label, message=f"{label} has shape {_shape(got.shape)} where the "
            f"derivation's is {_shape(right.shape)} ({_sizes(instances[i])})",
            notes=_accumulation(src, node, name)), fname)
    code, why = _diagnose(functions, fname, node, target, mode, q, name, instances, runs,
                          judged, uses)
    message = f"{label} differs from the derivation: {why}"
    return GradientResult(line, name, Verdict(
        "not_equivalent", label, (Mistake(code, why),), message,
        *_expected(fname, q), counterexample=_counterexample(instances[i], got, right),
        notes=_accumulation(src, node, name)), fname)


def _right(r: loops.Run, target: Target, q: str, inst: Instance) -> bool:
    if r.failure is not None:
        return False
    got = _outputs(r.value, target).get(q)
    return isinstance(got, np.ndarray | float | int | np.generic) and _close(got, inst.right[q])


def _failure(src, node, name, label, inst, r, target, q) -> Verdict | None:
    """Why the function gives no value to compare: it fails (the gradient whose lines fail is
    wrong; another is not judged), it returns no ``q``, or not an array."""
    if r.failure is not None:
        where = r.failure.line
        mine = where is None or any(w.line == where for w in loops.lineage(node, name))
        said = f"the code fails on derive's instance ({_sizes(inst)}): {r.failure}"
        if mine:
            return Verdict("shape_error", label, message=said,
                           notes=_accumulation(src, node, name))
        return Verdict("parse_error", label, message=f"{label} is not judged: {said}, a line "
                       f"{label} does not come from, before the function returns it")
    outs = _outputs(r.value, target)
    if q not in outs:
        return Verdict("parse_error", label, message=f"the function returns no {q} (the "
                       f"course's returns {', '.join(target.outputs)})")
    if not isinstance(outs[q], np.ndarray | float | int | np.generic):
        return Verdict("shape_error", label, message=f"{q} is a {type(outs[q]).__name__}, "
                       "not an array")
    return None


def _close(got, right) -> bool:
    got = np.asarray(got, dtype=float)
    return got.shape == right.shape and bool(np.allclose(got, right, rtol=RTOL, atol=ATOL))


def _correct(label: str, instances: list[Instance], judged: list[int]) -> Verdict:
    said = []
    for key, shown in (("stride", "stride"), ("pad", "pad"), ("T_x", "T"), ("f", "f")):
        values = sorted({instances[i].case.sizes[key] for i in judged
                         if key in instances[i].case.sizes})
        if values:
            said.append(f"{shown} {', '.join(map(str, values))}")
    return Verdict("correct", label, message=f"{label} agrees with the derivation on "
                   f"{len(judged)} instances of distinct sizes" +
                   (f" ({'; '.join(said)})" if said else ""))


def _through_helpers(src, fname, node, target, mode, q, instances, judged, missing, defined,
                     wrong):
    """With the course's helper in place of a snippet's (one at a time): the wrong helpers'
    results (the function's own lines are right), a helper's name (it alone is wrong, and
    derive does not judge it: zero_pad), or None."""
    params = [a.arg for a in node.args.args]
    for h in defined:
        runs = [loops.run(src, fname, instances[i].args, _kwargs(params, mode), missing=missing,
                          replace={h: loops.helper(h)}) for i in judged]
        if all(_right(r, target, q, instances[i]) for r, i in zip(runs, judged, strict=True)):
            bad = wrong.get(h, [])
            if bad:
                return tuple({"name": r.name, "line": r.line, "target": r.target} for r in bad)
            return h
    return None


def _diagnose(functions, fname, node, target, mode, q, name, instances, runs, judged, helper):
    """(code, sentence) of the mistake the numbers show."""
    if isinstance(helper, str):
        return "wrong_helper", (f"the snippet's {helper} (line {functions[helper].lineno}) is "
                                f"not the course's: with the course's {helper} the function is "
                                "right")
    for code, values in _all_candidates(fname, instances, runs, judged, target, mode, q):
        if values:
            return code, _SAY[code].format(q=q, line=_line_of(node, code, name))
    if fname == "conv_backward" and q == "dA_prev" and _padded_right(instances, runs, judged):
        return "wrong_pad_crop", (f"the padded gradient is right, but line "
                                  f"{loops.last_write(node, name)} crops it wrongly back to "
                                  "A_prev's size: dA_prev[i] = da_prev_pad[pad:-pad, pad:-pad, :]")
    probes = {"stride1": "stride 1", "T1": "T = 1"}
    for kind, shown in probes.items():
        idx = [i for i, inst in enumerate(instances) if inst.case.kind == kind]
        if idx and all(_right(runs[i], target, q, instances[i]) for i in idx):
            if kind == "stride1":
                return "missing_stride", ("right at stride 1, wrong at stride 2: the windows must "
                                          "start at stride · h and stride · w" +
                                          _unstrided(node))
            if _overwritten(node, name):
                return "missing_sum", _summed(node, name, "over t")
            return "other", (f"right for {shown}, wrong for T ≥ 2: the steps combine wrongly "
                             "(the order of the caches, or the gradient passed back through time)")
    if _overwritten(node, name):
        return "missing_sum", _summed(node, name, "over the loop")
    return "other", "none of the usual mistakes explains it (see the counterexample)"


def _all_candidates(fname, instances, runs, judged, target, mode, q):
    found: dict[str, bool] = {}
    for i in judged:
        cands = candidates(fname, instances[i], mode)
        got = _outputs(runs[i].value, target)[q]
        for code, values in cands.items():
            if q in values:
                found[code] = found.get(code, True) and _close(got, np.asarray(values[q]))
    return list(found.items())


_SAY = {
    "filter_flipped": "{q} is what the filters turned by 180° give (W[::-1, ::-1]): the loop "
                      "form adds W[:, :, :, c] · dZ[i, h, w, c] to each window unflipped",
    "average_not_divided": "{q} spreads each dA[i, h, w, c] over its window without dividing by "
                           "f · f (distribute_value: dz / (n_H · n_W) in each entry)",
    "missing_tanh_derivative": "dtanh (line {line}) lacks tanh′ = 1 − a_next²: {q} is what "
                               "da_next alone gives",
    "tanh_derivative_at_a_prev": "dtanh (line {line}) takes tanh′ at a_prev: a_next = tanh(z) is "
                                 "the cell's output, so tanh′(z) = 1 − a_next²",
    "gradient_through_time_dropped": "each step's cell gets da[:, :, t] alone: the gradient "
                                     "from the later steps (da_prevt) must be added to it "
                                     "(line {line})",
}


def _line_of(node, code: str, name: str) -> int:
    if code in ("missing_tanh_derivative", "tanh_derivative_at_a_prev"):
        return loops.last_write(node, "dtanh") if any(
            w.name == "dtanh" for w in loops.writes(node)) else loops.last_write(node, name)
    if code == "gradient_through_time_dropped":
        calls = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Call) and
                 isinstance(n.func, ast.Name) and n.func.id == "rnn_cell_backward"]
        return calls[0] if calls else node.lineno
    return loops.last_write(node, name)


def _padded_right(instances, runs, judged) -> bool:
    """Whether the frame holds the padded gradient, right, on every instance (conv)."""
    from derive.conv import numbers

    for i in judged:
        v, s = instances[i].values, instances[i].case.sizes
        p = s["pad"]
        padded = np.pad(v["A_prev"], ((0, 0), (p, p), (p, p), (0, 0)))
        right = numbers.conv_backward(v["dZ"], padded, v["W"], v["b"], stride=s["stride"],
                                      pad=0)[0]
        if not any(isinstance(x, np.ndarray) and _close(x, right) for x in runs[i].env.values()):
            return False
    return True


def _unstrided(node) -> str:
    lines = [w for w in loops.writes(node) if w.name in ("vert_start", "horiz_start")
             and "stride" not in w.reads]
    return "".join(f" (line {w.line}: {w.name} without the stride)" for w in lines[:2])


def _overwritten(node, name: str) -> bool:
    """Whether ``name`` is set (=) inside a loop and nothing in its lineage adds up (+=)."""
    lineage = loops.lineage(node, name)
    mine = [w for w in lineage if w.name == name]
    return any(w.overwrites for w in mine) and not any(w.accumulates for w in lineage)


def _summed(node, name: str, over: str) -> str:
    line = max(w.line for w in loops.writes(node) if w.name == name and w.overwrites)
    return (f"{name} keeps one term: line {line} sets it inside the loop instead of adding to it "
            f"(+=), so the sum {over} is missing")


def _accumulation(src: Source, node, name: str) -> tuple[str, ...]:
    """Where the gradient is accumulated and written, each line with its text, and the other
    lines its value comes from (the counters' bookkeeping, shapes and zeros left out)."""
    lineage = loops.lineage(node, name)
    acc = [w for w in lineage if w.accumulates]
    final = [w for w in lineage if w.name == name and w not in acc][-1:]
    out = [f"accumulated on line {w.line}: {src.segment(w.node)}" for w in acc[:3]]
    out += [f"written on line {w.line}: {src.segment(w.node)}" for w in final]
    shown = {w.line for w in acc[:3] + final}
    rest = sorted({w.line for w in lineage if w.line not in shown and not _bookkeeping(w)})
    if rest:
        out.append(f"its value comes from line{'s' if len(rest) > 1 else ''} "
                   f"{', '.join(map(str, rest[:12]))}")
    return tuple(out)


def _bookkeeping(w: loops.Write) -> bool:
    """A write that only sets up: zeros, a shape, a cache or hyperparameters unpacked."""
    value = getattr(w.node, "value", None)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
            value.func.attr in ("zeros", "zeros_like", "ones"):
        return True
    if isinstance(value, ast.Attribute) and value.attr == "shape":
        return True
    return isinstance(value, ast.Name) and value.id in ("cache", "caches") or \
        isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name) and \
        value.value.id in ("hparameters", "parameters", "cache", "caches")


def _counterexample(inst: Instance, got: np.ndarray, right: np.ndarray) -> dict:
    diff = np.abs(got - right)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    return {"sizes": dict(inst.case.sizes), "seed": inst.case.seed, "entry": list(idx),
            "expected_entry": float(right[idx]), "got_entry": float(got[idx]), "inputs": {},
            "note": "the inputs are drawn from numpy's default_rng(1000 + seed)"}


def _sizes(inst: Instance) -> str:
    return ", ".join(f"{k}={v}" for k, v in inst.case.sizes.items())


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _pad0_note(fname, instances, runs, target) -> list[str]:
    idx = [i for i, inst in enumerate(instances) if inst.case.kind == "pad0"]
    for i in idx:
        r = runs[i]
        if r.failure is not None:
            return [f"function {fname}: at pad = 0 it fails ({r.failure}): a slice "
                    "X[pad:-pad] is empty when pad = 0 (the course's hint has this limit; "
                    "X[pad:X.shape[0] - pad] covers it)"]
    return []


@functools.cache
def _expected(fname: str, q: str) -> tuple[str | None, str | None]:
    """The derivation's formula for ``q`` in the course's loop form, with its LaTeX."""
    if fname.startswith("rnn"):
        from derive.rnn import derive_rnn
        from derive.rnn.spec import load_rnn

        d = derive_rnn(load_rnn("[rnn]\ninput = 3\nhidden = 4\noutput = 2\nsteps = 2\n"))
        course = {"dx": "dxt", "da0": "da_prev"}.get(q, q)
        for step in d.steps:
            if step.course == course:
                return step.loop, step.latex
    return None, None


__all__ = ["judge", "units"]
