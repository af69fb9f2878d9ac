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
from dataclasses import replace

import numpy as np

from derive.check.verdict import Mistake, Verdict
from derive.code import conv_diagnosis as D
from derive.code import loops
from derive.code.conv_cases import FORWARD, TARGETS, Instance, Target
from derive.code.result import GradientResult
from derive.code.source import Source
from derive.errors import ResourceLimit


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
        ran = all(r.failure is None for r, inst in zip(runs, instances, strict=True)
                  if inst.case.kind == "judged")
        if ran and fname in ("conv_backward", "conv_backward_naive"):
            notes += _pad0_note(fname, instances, runs, target)
    return out


def _kwargs(params: list[str], mode: str | None) -> dict:
    """pool_backward's mode by its name, or as its third argument under another name."""
    if mode is None:
        return {}
    return {"mode": mode} if "mode" in params else {params[2]: mode} if len(params) > 2 else {}


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
    line = _mode_line(node, name, mode)
    label = q if mode is None else f"{q} ({mode} pooling)"
    judged = [i for i, inst in enumerate(instances) if inst.case.kind == "judged"]
    bad = [i for i in judged if not D.right(runs[i], target, q, instances[i])]
    if not bad:
        return GradientResult(line, name, _correct(label, instances, judged), fname)
    uses = _through_helpers(src, fname, node, target, mode, q, instances, judged, missing,
                            defined, wrong)
    if isinstance(uses, tuple):  # right with the course's helpers: the snippet's are wrong
        v = _correct(label, instances, judged)
        helper = uses[0]["function"]
        wrong_lines = ", ".join(f"{u['name']} (line {u['line']})" for u in uses)
        note = (f"correct given a right {helper}: this function's own lines are right (run with "
                f"the course's {helper} in place of this file's), but the value it returns is "
                f"wrong because this file's {helper} is: {wrong_lines}")
        return GradientResult(line, name, replace(v, notes=(*v.notes, note)), fname, uses)
    i = bad[0]
    failed = _failure(src, node, name, label, instances[i], runs[i], target, q)
    if failed is not None:
        return GradientResult(line, name, failed, fname)
    got = np.asarray(D.outputs(runs[i].value, target)[q], dtype=float)
    right = instances[i].right[q]
    if got.shape != right.shape:
        return GradientResult(line, name, Verdict(
            "shape_error", label, message=f"{label} has shape {_shape(got.shape)} where the "
            f"derivation's is {_shape(right.shape)} ({_sizes(instances[i])})",
            notes=D.accumulation(src, node, name)), fname)
    code, why = D.diagnose(functions, fname, node, target, mode, q, name, instances, runs,
                          judged, uses)
    message = f"{label} differs from the derivation (derive's numbers of {fname})"
    expected, latex = D.expected(fname, label)
    return GradientResult(line, name, Verdict(
        "not_equivalent", label, (Mistake(code, why),), message, expected, latex,
        counterexample=_counterexample(instances[i], got, right),
        notes=D.accumulation(src, node, name) + D.formula_notes(fname, q, expected)), fname)


def _mode_line(node, name: str, mode: str | None) -> int:
    """The line of ``name``'s last write, in the branch of ``mode`` (``if mode == "max":``)
    when there is one."""
    if mode is not None:
        for branch in ast.walk(node):
            if isinstance(branch, ast.If) and any(isinstance(c, ast.Constant) and c.value == mode
                                                  for c in ast.walk(branch.test)):
                lines = [n.lineno for s in branch.body for n in ast.walk(s)
                         if isinstance(n, ast.Assign | ast.AugAssign) and
                         any(loops.root(t) == name for t in _targets(n))]
                if lines:
                    return max(lines)
    return loops.last_write(node, name)


def _targets(n) -> list:
    return list(n.targets) if isinstance(n, ast.Assign) else [n.target]


def _failure(src, node, name, label, inst, r, target, q) -> Verdict | None:
    """Why the function gives no value to compare: it fails (the gradient whose lines fail is
    wrong; another is not judged), it returns no ``q``, or not an array."""
    if r.failure is not None:
        where = r.failure.line
        mine = where is None or any(w.line == where for w in loops.lineage(node, name))
        said = f"the code fails on derive's instance ({_sizes(inst)}): {r.failure}"
        if not r.failure.numpy_error and "is not set" not in str(r.failure):
            return Verdict("parse_error", label, message=f"{label} cannot be checked: derive's "
                           f"interpreter does not read {r.failure} (nothing is run but what "
                           "it reads)")
        if mine:
            return Verdict("shape_error", label, message=said,
                           notes=D.accumulation(src, node, name))
        return Verdict("parse_error", label, message=f"{label} is not judged: {said}, a line "
                       f"{label} does not come from, before the function returns it")
    outs = D.outputs(r.value, target)
    if q not in outs:
        return Verdict("parse_error", label, message=f"the function returns no {q} (the "
                       f"course's returns {', '.join(target.outputs)})")
    if not isinstance(outs[q], np.ndarray | float | int | np.generic):
        return Verdict("shape_error", label, message=f"{q} is a {type(outs[q]).__name__}, "
                       "not an array")
    return None


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
        if all(D.right(r, target, q, instances[i]) for r, i in zip(runs, judged, strict=True)):
            bad = wrong.get(h, [])
            if bad:
                return tuple({"name": r.name, "line": r.line, "target": r.target, "function": h}
                             for r in bad)
            return h
    return None


def _counterexample(inst: Instance, got: np.ndarray, right: np.ndarray) -> dict:
    diff = np.abs(got - right)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    # "entry" is 1-based, as every counterexample's (of any rank); "index" numpy's own
    return {"sizes": dict(inst.case.sizes), "seed": inst.case.seed, "index": list(idx),
            "entry": [i + 1 for i in idx], "expected_entry": float(right[idx]),
            "got_entry": float(got[idx]), "inputs": {},
            "note": f"numpy index {list(idx)}; the inputs are drawn from numpy's "
                    "default_rng(1000 + seed)"}


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


__all__ = ["judge", "units"]
