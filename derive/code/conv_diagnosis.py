"""The diagnosis of a wrong gradient of the course's loop-form functions (:mod:`.conv_reading`):
the mistake the numbers show, the lines the gradient comes from, and the derivation's formula in
the course's loop form (from derive.conv's and derive.rnn's derivations, never written here)."""

from __future__ import annotations

import ast
import functools

import numpy as np

from derive.code import loops
from derive.code.conv_cases import Instance, Target, candidates
from derive.code.source import Source

RTOL, ATOL = 1e-7, 1e-9


def outputs(value, target: Target) -> dict:
    """The returned gradients by the course's names: a tuple by position, a dict by key."""
    if target.returns_dict:
        return dict(value) if isinstance(value, dict) else {}
    items = value if isinstance(value, tuple) else (value,)
    return {q: items[k] for k, q in enumerate(target.outputs) if k < len(items)}


def right(r: loops.Run, target: Target, q: str, inst: Instance) -> bool:
    if r.failure is not None:
        return False
    got = outputs(r.value, target).get(q)
    return isinstance(got, np.ndarray | float | int | np.generic) and close(got, inst.right[q])


def close(got, right) -> bool:
    got = np.asarray(got, dtype=float)
    return got.shape == right.shape and bool(np.allclose(got, right, rtol=RTOL, atol=ATOL))


def diagnose(functions, fname, node, target, mode, q, name, instances, runs, judged, helper):
    """(code, sentence) of the mistake the numbers show."""
    if isinstance(helper, str):
        return "wrong_helper", (f"the snippet's {helper} (line {functions[helper].lineno}) is "
                                f"not the course's: with the course's {helper} the function is "
                                "right")
    for code, values in _all_candidates(fname, instances, runs, judged, target, mode, q):
        if values:
            return code, _SAY[code].format(q=q, line=_line_of(node, code, name))
    if (fname, q) in (("conv_backward", "dA_prev"), ("conv_backward_naive", "dx")) and \
            _padded_gradient_right(instances, runs, judged):
        crop = "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]" if fname.endswith("_naive") else \
            "dA_prev[i] = da_prev_pad[pad:-pad, pad:-pad, :]"
        line = loops.last_write(node, name)
        if not fname.endswith("_naive") and not _inside_a_loop(node, line):
            return "wrong_pad_crop", (f"the padded gradient is right, but the crop (line {line}) "
                                      "stands outside the loop over the examples i, so only the "
                                      "last example's is written: indent it into the loop, as "
                                      f"the course writes it: {crop}")
        return "wrong_pad_crop", (f"the padded gradient is right, but line {line} crops it "
                                  f"wrongly back to the input's size; the course's crop is: {crop}")
    probes = {"stride1": "stride 1", "T1": "T = 1"}
    for kind, shown in probes.items():
        idx = [i for i, inst in enumerate(instances) if inst.case.kind == kind]
        if idx and all(right(runs[i], target, q, instances[i]) for i in idx):
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


def _inside_a_loop(fn: ast.FunctionDef, line: int) -> bool:
    """Whether the statement on ``line`` of ``fn`` is in the body of a for loop."""
    return any(isinstance(loop, ast.For) and any(getattr(n, "lineno", None) == line
                                                 for stmt in loop.body for n in ast.walk(stmt))
               for loop in ast.walk(fn))


def _all_candidates(fname, instances, runs, judged, target, mode, q):
    found: dict[str, bool] = {}
    for i in judged:
        cands = candidates(fname, instances[i], mode)
        got = outputs(runs[i].value, target)[q]
        for code, values in cands.items():
            if q in values:
                found[code] = found.get(code, True) and close(got, np.asarray(values[q]))
    return list(found.items())


_SAY = {
    "filter_flipped": "{q} is what the filters turned by 180° give: the loop form adds each "
                      "filter unflipped to its window (W[:, :, :, c] · dZ[i, h, w, c] in the "
                      "course's, w[f] · dout[n, f, i, j] in CS231n's); the flip belongs to the "
                      "full-convolution form",
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


def _padded_gradient_right(instances, runs, judged) -> bool:
    """Whether the frame holds the padded gradient, right, on every instance (conv): derive's
    gradient of the input padded beforehand, with no pad of its own."""
    from derive.conv import numbers

    for i in judged:
        v, s = instances[i].values, instances[i].case.sizes
        p = s["pad"]
        cs = v.get("layout") == "cs231n"
        widths = ((0, 0), (0, 0), (p, p), (p, p)) if cs else ((0, 0), (p, p), (p, p), (0, 0))
        padded = np.pad(v["A_prev"], widths)
        right = numbers.conv_backward(v["dZ"], padded, v["W"], v["b"], stride=s["stride"], pad=0,
                                      layout="cs231n" if cs else "course")[0]
        if not any(isinstance(x, np.ndarray) and close(x, right) for x in runs[i].env.values()):
            return False
    return True


def _unstrided(node) -> str:
    lines = [w for w in loops.writes(node) if w.name in ("vert_start", "horiz_start", "h_start",
                                                         "w_start", "hs", "ws")
             and "stride" not in w.reads and not any("stride" in r for r in w.reads)]
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


def accumulation(src: Source, node, name: str) -> tuple[str, ...]:
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


def formula_notes(fname: str, q: str, expected: str | None) -> tuple[str, ...]:
    if expected is None or fname not in ("conv_backward", "pool_backward"):
        return ()
    out = ["the correct formula is the derivation's loop on its own network (f = 3, stride 2, "
           "pad 1 for a convolution; f = 2, stride 1 for a pool), its sizes written in"]
    if q in ("dW", "db"):
        out.append(f"the derivation's dZ is the per-example gradient, so its {q} ends in 1/m "
                   f"(the LaTeX); the course's conv_backward takes dZ = ∂J/∂Z (the 1/m already "
                   f"in it), so its {q} has none, and the loop shown leaves it out")
    return tuple(out)


def _course_scale(loop: str, q: str) -> str:
    """The derivation's loop for dW or db without its last line ``q = (1/m) * q``: the
    course's conv_backward is handed dZ = ∂J/∂Z, which holds the 1/m already."""
    lines = loop.rstrip().splitlines()
    if q in ("dW", "db") and lines and lines[-1].strip() == f"{q} = (1/m) * {q}":
        return "\n".join(lines[:-1])
    return loop


def _cnn_text(mode: str) -> str:
    """The network whose second layer is the convolution and third the pool the course's
    functions are compared with (layer 1 makes layer 2's input a computed A, not X)."""
    from derive.conv.spec import spec_text

    return spec_text([6, 6, 2], [
        {"kind": "conv2d", "filters": 2, "size": 2, "activation": "relu"},
        {"kind": "conv2d", "filters": 3, "size": 3, "stride": 2, "pad": 1, "activation": "relu"},
        {"kind": "pool", "mode": mode, "size": 2, "stride": 1},
        {"kind": "flatten"},
        {"kind": "dense", "units": 2, "activation": "softmax"},
    ])


# the course's outputs -> the steps of the CNN above (layer 2 a convolution, layer 3 a pool)
_CONV_STEPS = {"dA_prev": ("dA", 1), "dW": ("dW", 2), "db": ("db", 2)}


@functools.cache
def expected(fname: str, q: str) -> tuple[str | None, str | None]:
    """The derivation's formula for ``q`` in the course's loop form, with its LaTeX: the RNN's
    (T = 2), or a CNN's whose second layer is a convolution (f = 3, stride 2, pad 1) and third a
    pool (f = 2, stride 1), the sizes written into its loops."""
    if fname.startswith("rnn"):
        from derive.rnn import derive_rnn
        from derive.rnn.spec import load_rnn

        d = derive_rnn(load_rnn("[rnn]\ninput = 3\nhidden = 4\noutput = 2\nsteps = 2\n"),
                       prove=False)  # the same derivation derive backward prints, proven there
        course = {"dx": "dxt", "da0": "da_prev"}.get(q, q)
        for step in d.steps:
            if step.course == course.split(" ")[0]:
                # the cell computes one step's term (=); rnn_backward's loop accumulates it (+=)
                loop = step.loop.replace(" += ", " = ", 1) if fname == "rnn_cell_backward" else step.loop
                return loop, step.latex
        return None, None
    if fname in ("conv_backward", "pool_backward"):
        from derive.conv import derive_cnn, load_cnn

        mode = "average" if fname == "pool_backward" and q.endswith("(average pooling)") else "max"
        cnn = derive_cnn(load_cnn(_cnn_text(mode), "the conv reading's network"),
                         prove=False)
        layer, target = (3, ("dA", 2)) if fname == "pool_backward" else (2, _CONV_STEPS.get(q))
        for step in cnn.steps:
            t = step.target
            if step.layer == layer and (getattr(t, "base", None), getattr(t, "layer", None)) == target:
                return _course_scale(step.loop, q), step.index_latex
    return None, None


__all__ = ["ATOL", "RTOL", "accumulation", "close", "diagnose", "expected",
           "formula_notes", "outputs", "right"]
