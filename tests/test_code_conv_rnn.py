"""derive check --code on the course's conv_backward, pool_backward (create_mask_from_window,
distribute_value), rnn_cell_backward and rnn_backward: the correct functions are correct, each
planted one-line mistake is judged wrong on the gradients it breaks (and only those), named,
with a counterexample whose numbers are right (checked here against the autograd oracle), and
the fixtures are the course's answers (run here, they reproduce the published outputs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from derive.code import check_code
from tests import oracle_conv, oracle_rnn
from tests.course_impls import dls_conv, dls_planted, dls_rnn

HERE = Path(__file__).parent
CONV = (HERE / "course_impls" / "dls_conv.py").read_text("utf-8")
RNN = (HERE / "course_impls" / "dls_rnn.py").read_text("utf-8")
CS231N = (HERE / "course_impls" / "cs231n_conv.py").read_text("utf-8")
SOURCES = {"conv": CONV, "rnn": RNN, "cs231n": CS231N}
PLANTED = [("conv", *p) for p in dls_planted.CONV] + [("rnn", *p) for p in dls_planted.RNN] + \
    [("cs231n", *p) for p in dls_planted.CS231N]
COURSE = {c["id"]: c for c in json.loads((HERE / "data" / "course_conv_rnn.json").read_text())["cases"]}

# what each fixture's functions return, by the course's names
OUTPUTS = {
    "conv_backward": ["dA_prev", "dW", "db"], "create_mask_from_window": ["mask"],
    "distribute_value": ["a"], "pool_backward": ["dA_prev (max pooling)", "dA_prev (average pooling)"],
    "rnn_cell_backward": ["dxt", "da_prev", "dWax", "dWaa", "dba"],
    "rnn_backward": ["dx", "da0", "dWax", "dWaa", "dba"],
    "conv_backward_naive": ["dx", "dw", "db"], "max_pool_backward_naive": ["dx"],
}
WANTED = {"conv": ["conv_backward", "create_mask_from_window", "distribute_value", "pool_backward"],
          "rnn": ["rnn_cell_backward", "rnn_backward"],
          "cs231n": ["conv_backward_naive", "max_pool_backward_naive"]}


def by_function(out):
    table: dict[str, dict] = {}
    for r in out.results:
        table.setdefault(r.function, {})[r.verdict.target] = r
    return table


@pytest.mark.parametrize("which", ["conv", "rnn", "cs231n"])
def test_the_course_functions_are_correct(which):
    out = check_code(SOURCES[which])
    table = by_function(out)
    wanted = WANTED[which]
    assert sorted(table) == sorted(wanted)
    for fname in wanted:
        assert sorted(table[fname]) == sorted(OUTPUTS[fname])
        for r in table[fname].values():
            assert r.verdict.verdict == "correct" and not r.uses_wrong, (fname, r.verdict.message)
    assert out.exit_code == 0 and not out.problems
    assert not any("rows" in n for n in out.notes)  # the dense checker's layout note is not theirs


def test_the_lines_named_are_the_accumulations():
    table = by_function(check_code(CONV))["conv_backward"]
    line = {name: CONV.splitlines().index(text) + 1 for name, text in (
        ("dA_prev", "        dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]"),
        ("dW", "                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]"),
        ("db", "                    db[:, :, :, c] += dZ[i, h, w, c]"))}
    for name, r in table.items():
        assert r.line == line[name] and r.name == name


@pytest.mark.parametrize("which, name, fname, old, new, breaks", PLANTED,
                         ids=[p[1] for p in PLANTED])
def test_a_planted_mistake_is_judged_wrong(which, name, fname, old, new, breaks):
    code = SOURCES[which]
    assert code.count(old) == 1
    planted_line = code[:code.index(old)].count("\n") + 1
    out = check_code(code.replace(old, new))
    assert out.exit_code == 1
    table = by_function(out)
    own = table[fname]
    broken = breaks.split()
    wrong = {t for t, r in own.items() if r.verdict.verdict in ("not_equivalent", "shape_error")}
    # a gradient whose own lines run before the function fails is not judged (not wrong)
    assert all(r.verdict.verdict in ("correct", "parse_error") for t, r in own.items()
               if t not in wrong)
    if fname in ("create_mask_from_window", "distribute_value"):
        assert wrong == set(OUTPUTS[fname])  # and pool_backward, right itself, uses it
        users = table["pool_backward"].values()
        assert any(r.uses_wrong and r.verdict.verdict == "correct" for r in users)
    else:
        assert {t.split(" (")[0] for t in wrong} == set(broken), (name, wrong)
    for t in wrong:
        v = own[t].verdict
        assert v.verdict in ("not_equivalent", "shape_error")
        said = " ".join([v.message, *v.notes])
        assert re.search(rf"\bline {planted_line}\b|lines? [\d, ]*\b{planted_line}\b", said), \
            (name, said)  # the planted line is named
        if v.verdict == "not_equivalent":
            cex = v.counterexample
            assert cex["expected_entry"] != pytest.approx(cex["got_entry"])
    for other, results in table.items():  # every other function stays right on its own
        if other != fname:
            assert all(r.verdict.verdict == "correct" for r in results.values()), other


EXPECTED_CODES = {
    "flipped_filter": "filter_flipped", "crop_at_the_wrong_corner": "wrong_pad_crop",
    "missing_stride": "missing_stride", "pool_missing_stride": "missing_stride",
    "db_overwritten": "missing_sum", "missing_sum_over_t": "missing_sum",
    "dtanh_without_derivative": "missing_tanh_derivative",
    "dtanh_of_a_prev": "tanh_derivative_at_a_prev",
    "gradient_through_time_dropped": "gradient_through_time_dropped",
    "average_not_divided": "average_not_divided",
    "cs231n_flipped_filter": "filter_flipped", "cs231n_missing_stride": "missing_stride",
    "cs231n_crop_off_by_one": "wrong_pad_crop", "cs231n_db_overwritten": "missing_sum",
    "cs231n_pool_missing_stride": "missing_stride",
}


@pytest.mark.parametrize("name, code", sorted(EXPECTED_CODES.items()))
def test_the_mistake_is_named(name, code):
    which, _, fname, old, new, breaks = next(p for p in PLANTED if p[1] == name)
    out = check_code(SOURCES[which].replace(old, new))
    for r in by_function(out)[fname].values():
        if r.verdict.verdict != "correct":
            assert [m.code for m in r.verdict.mistakes] == [code], (r.verdict.target, r.verdict.message)


def test_the_counterexample_is_right_by_the_oracle():
    """The flipped filter's counterexample: regenerate its instance, and autograd's dA_prev at
    the entry named is the 'expected' value; the planted code (run here) gives 'got'."""
    which, _, fname, old, new, _ = next(p for p in PLANTED if p[1] == "flipped_filter")
    out = check_code(SOURCES[which].replace(old, new))
    cex = by_function(out)["conv_backward"]["dA_prev"].verdict.counterexample
    s = cex["sizes"]
    r = np.random.default_rng(1000 + cex["seed"])
    A_prev = r.standard_normal((s["m"], s["n_H_prev"], s["n_W_prev"], s["n_C_prev"]))
    W = r.standard_normal((s["f"], s["f"], s["n_C_prev"], s["n_C"]))
    b = r.standard_normal((1, 1, 1, s["n_C"]))
    n_H = (s["n_H_prev"] + 2 * s["pad"] - s["f"]) // s["stride"] + 1
    n_W = (s["n_W_prev"] + 2 * s["pad"] - s["f"]) // s["stride"] + 1
    dZ = r.standard_normal((s["m"], n_H, n_W, s["n_C"]))
    right = oracle_conv.conv_gradients(dZ, A_prev, W, b, stride=s["stride"], pad=s["pad"])[0]
    entry = tuple(cex["index"])
    assert right[entry] == pytest.approx(cex["expected_entry"], rel=1e-9, abs=1e-12)
    namespace: dict = {}
    exec(compile(CONV.replace(old, new), "planted", "exec"), namespace)  # the test runs it, derive never
    got = namespace["conv_backward"](dZ, (A_prev, W, b, {"stride": s["stride"], "pad": s["pad"]}))[0]
    assert got[entry] == pytest.approx(cex["got_entry"], rel=1e-9, abs=1e-12)


def test_pad_zero_is_a_note_not_a_verdict():
    """The course's crop X[pad:-pad] is empty at pad = 0: said in a note; the judged instances
    pad by 1 or 2, so the function is correct."""
    out = check_code(CONV)
    assert any("pad = 0" in n and "X[pad:-pad]" in n for n in out.notes)
    fixed = CONV.replace("da_prev_pad[pad:-pad, pad:-pad, :]",
                         "da_prev_pad[pad:pad + n_H_prev, pad:pad + n_W_prev, :]")
    assert not any("pad = 0" in n for n in check_code(fixed).notes)


def test_a_helper_the_snippet_leaves_out_is_the_course_s():
    """conv_backward alone (no zero_pad), pool_backward alone (no mask, no spread), rnn_backward
    alone (no cell): read with the course's helpers."""
    def only(code, fname):
        start = code.index(f"def {fname}(")
        end = code.find("\ndef ", start + 1)
        return code[start:end if end > 0 else None]

    for code, fname in ((CONV, "conv_backward"), (CONV, "pool_backward"), (RNN, "rnn_backward")):
        out = check_code(only(code, fname))
        assert out.results and all(r.verdict.verdict == "correct" for r in out.results), fname


def test_hostile_loops_are_bounded():
    """A loop of 10⁹ iterations stops at the statements' limit (a problem, not a verdict), a pad
    of 10⁵ at the elements' limit before numpy allocates; the other functions are still judged."""
    code = CONV.replace("    (A_prev, W, b, hparameters) = cache\n",
                        "    (A_prev, W, b, hparameters) = cache\n    for k in range(10 ** 9):\n"
                        "        m = 1\n", 1)
    assert code != CONV
    out = check_code(code)
    assert any("conv_backward" in p and "code.statements" in p for p in out.problems)
    assert {r.function for r in out.results} == {"create_mask_from_window", "distribute_value",
                                                 "pool_backward"}
    big = CONV.replace("A_prev_pad = zero_pad(A_prev, pad)", "A_prev_pad = zero_pad(A_prev, 10 ** 5)")
    out = check_code(big)
    assert any("code.elements" in p for p in out.problems), out.problems


def test_the_fixtures_are_the_course_s_answers():
    """Run as Python here (derive only reads them), they reproduce the published outputs."""
    case = COURSE["conv_backward"]
    np.random.seed(1)
    A_prev, W, b = (np.random.randn(*shape) for _, shape in case["draws"])
    Z = oracle_conv.conv_forward(A_prev, W, b, stride=2, pad=2)
    dA, dW, db = dls_conv.conv_backward(Z, (A_prev, W, b, case["hparameters"]))
    assert np.mean(dA) == pytest.approx(float(case["expected"]["mean(dA)"]), rel=1e-12)
    assert np.mean(dW) == pytest.approx(float(case["expected"]["mean(dW)"]), rel=1e-12)
    case = COURSE["pool_backward"]
    np.random.seed(1)
    A_prev = np.random.randn(5, 5, 3, 2)
    dA = np.random.randn(5, 4, 2, 2)
    for mode in ("max", "average"):
        got = dls_conv.pool_backward(dA, (A_prev, {"stride": 1, "f": 2}), mode)
        right = oracle_conv.pool_gradients(dA, A_prev, f=2, stride=1, mode=mode)
        assert np.allclose(got, right)
    case = COURSE["rnn_backward"]
    np.random.seed(1)
    v = {name: np.random.randn(*shape) for name, shape in case["draws"]}
    p = {k: v[k] for k in ("Wax", "Waa", "Wya", "ba", "by")}
    _, _, caches = dls_rnn.rnn_forward(v["x"], v["a0"], p)
    got = dls_rnn.rnn_backward(v["da"], caches)
    assert got["dWax"][3][1] == pytest.approx(float(case["expected"]["dWax[3][1]"]), abs=1e-10)
    right = oracle_rnn.rnn_backward_gradients(v["da"], v["x"], v["a0"], p)
    for k in ("dx", "da0", "dWax", "dWaa", "dba"):
        assert np.allclose(got[k], right[k])


def test_json_and_exit_code_through_the_cli(tmp_path, capsys):
    from derive.cli import main

    planted = dls_planted.RNN[0]
    path = tmp_path / "rnn.py"
    path.write_text(RNN.replace(planted[2], planted[3]))
    code = main(["check", "--code", str(path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["verdict"] == "not_equivalent"
    wrong = [r for r in data["results"] if r["verdict"] != "correct"]
    assert {r["target"] for r in wrong} == {"dxt", "da_prev", "dWax", "dWaa", "dba"}
    assert all(r["mistakes"][0]["code"] == "missing_tanh_derivative" for r in wrong)


@pytest.mark.parametrize("which, name, target, course", [
    ("conv", "flipped_filter", "dA_prev", "+= W[:, :, :, c] * dZ[i, h, w, c]"),
    ("conv", "db_overwritten", "db", "db[:, :, :, c] += dZ[i, h, w, c]"),
    ("rnn", "missing_sum_over_t", "dWax", "dWax += np.dot(dtanh, xt.T)")])
def test_the_correct_formula_is_the_derivation_s_loop(which, name, target, course):
    """A wrong gradient shows the derivation's own loop form (derive.conv / derive.rnn steps)."""
    from derive.conv import derive_cnn, load_cnn
    from derive.rnn import derive_rnn, load_rnn

    _, _, fname, old, new, _ = next(p for p in PLANTED if p[1] == name)
    v = by_function(check_code(SOURCES[which].replace(old, new)))[fname][target].verdict
    if which == "rnn":
        steps = derive_rnn(load_rnn("[rnn]\ninput = 3\nhidden = 4\noutput = 2\nsteps = 2\n"),
                           prove=False).steps
        loops_ = {s.loop for s in steps if s.course == target}
    else:
        from derive.code.conv_diagnosis import _cnn_text

        steps = derive_cnn(load_cnn(_cnn_text("max")), prove=False).steps
        # dW and db without the derivation's last line q = (1/m) * q: the course's dZ holds it
        loops_ = {s.loop.rstrip().removesuffix(f"\n{target} = (1/m) * {target}")
                  for s in steps if s.layer == 2}
    assert v.expected in loops_ and v.expected_latex
    assert course in v.expected  # the course's own accumulation, as the derivation writes it


@pytest.mark.parametrize("target", ["dW", "db", "dA_prev"])
def test_the_printed_conv_loop_computes_the_course_s_gradient(target):
    """The loop printed as the correct formula of the course's conv_backward, run here (it is
    derive's own text, not a student's) on dZ = ∂J/∂Z, gives autograd's vector-Jacobian product:
    the loop has no 1/m because the course's dZ holds it."""
    from derive.code.conv_diagnosis import expected
    from tests.oracle_conv import conv_gradients

    loop, _ = expected("conv_backward", target)
    rng = np.random.default_rng(3)
    m, A_prev = 2, rng.normal(size=(2, 5, 5, 2))
    W, b, dZ = rng.normal(size=(3, 3, 2, 3)), rng.normal(size=(1, 1, 1, 3)), rng.normal(size=(2, 3, 3, 3))
    env = {"np": np, "A_prev": A_prev, "W": W, "b": b, "dZ": dZ, "m": m, "n_H": 3, "n_W": 3,
           "n_C": 3}
    exec(loop, env)  # noqa: S102 - derive's own printed formula, in a test
    want = dict(zip(("dA_prev", "dW", "db"), conv_gradients(dZ, A_prev, W, b, stride=2, pad=1),
                    strict=True))[target]
    assert np.allclose(np.reshape(env[target], want.shape), want, rtol=1e-10, atol=1e-12)


def test_nothing_in_the_snippet_is_run_by_python(tmp_path):
    """A conv_backward that would write a file, import os or read a dunder: refused by derive's
    interpreter (the function fails on its instances), and no file appears."""
    marker = tmp_path / "ran"
    for line in (f"open({str(marker)!r}, 'w').write('x')", "import os",
                 "W.__class__.__init__", "__import__('os').system('true')"):
        code = CONV.replace("    stride = hparameters[\"stride\"]\n",
                            f"    stride = hparameters[\"stride\"]\n    {line}\n", 1)
        out = check_code(code)
        own = [r for r in out.results if r.function == "conv_backward"]
        assert own and all(r.verdict.verdict != "correct" for r in own) or \
            any("conv_backward" in p for p in out.problems), line
    assert not marker.exists()


def test_the_cs231n_fixture_is_right_by_the_oracle():
    """CS231n's layout, run here: the oracle's gradients (its layout="cs231n")."""
    from tests.course_impls import cs231n_conv

    r = np.random.default_rng(7)
    x, w, b = r.standard_normal((2, 3, 5, 4)), r.standard_normal((4, 3, 3, 3)), r.standard_normal(4)
    dout = r.standard_normal((2, 4, 3, 2))
    dx, dw, db = cs231n_conv.conv_backward_naive(dout, (x, w, b, {"stride": 2, "pad": 1}))
    want = oracle_conv.conv_gradients(dout, x, w, b, stride=2, pad=1, layout="cs231n")
    for got, right in zip((dx, dw, db), want, strict=True):
        assert np.allclose(got, right)
    dout = r.standard_normal((2, 3, 2, 2))
    dx = cs231n_conv.max_pool_backward_naive(dout, (x, {"pool_height": 2, "pool_width": 2,
                                                        "stride": 2}))
    assert np.allclose(dx, oracle_conv.pool_gradients(dout, x, f=2, stride=2, layout="cs231n"))


def test_students_variants_are_read():
    """The window's maximum by np.unravel_index(np.argmax(...)), a filter turned twice by
    np.rot90 (itself again), np.pad's mode given positionally with nested constants: correct.
    A numpy function outside derive's table is 'cannot check', never a wrong verdict."""
    v = CS231N.replace(
        "                    mask = window == np.max(window)\n"
        "                    dx[n, c, h0:h0 + ph, w0:w0 + pw] += mask * dout[n, c, i, j]",
        "                    a, b = np.unravel_index(np.argmax(window), window.shape)\n"
        "                    dx[n, c, h0 + a, w0 + b] += dout[n, c, i, j]")
    v = v.replace("+= w[f] * dout[n, f, i, j]",
                  "+= np.rot90(np.rot90(w[f], 2, axes=(1, 2)), 2, axes=(1, 2)) * dout[n, f, i, j]")
    v = v.replace('(pad, pad)), mode="constant")', '(pad, pad)), "constant", '
                  'constant_values=((0, 0), (0, 0), (0, 0), (0, 0)))')
    assert v.count("unravel_index") == 1 and v.count("rot90") == 2 and "constant_values" in v
    out = check_code(v)
    assert len(out.results) == 4 and all(r.verdict.verdict == "correct" for r in out.results)
    once = v.replace("np.rot90(np.rot90(w[f], 2, axes=(1, 2)), 2, axes=(1, 2))",
                     "np.rot90(w[f], 2, axes=(1, 2))")
    dx = by_function(check_code(once))["conv_backward_naive"]["dx"].verdict
    assert [m.code for m in dx.mistakes] == ["filter_flipped"]
    refused = CS231N.replace("mask = window == np.max(window)",
                             "mask = np.isin(window, np.max(window))")
    r = by_function(check_code(refused))["max_pool_backward_naive"]["dx"]
    assert r.verdict.verdict == "parse_error" and "np.isin" in r.verdict.message


def test_rnn_backward_over_a_wrong_cell_is_correct_given_the_cell_and_says_its_value_is_wrong():
    """rnn_backward's own lines are right, but it calls this file's wrong rnn_cell_backward: each
    of its results is correct *given* the cell, names the cell's wrong lines, and the exit code
    says the file is wrong; the cell's right formulas are one step's (=, not the loop's +=)."""
    bad = RNN.replace("(1 - a_next ** 2) * da_next", "(1 - a_prev ** 2) * da_next", 1)
    assert bad != RNN
    out = check_code(bad)
    results = by_function(out)
    cell, loop = results["rnn_cell_backward"], results["rnn_backward"]
    assert all(not r.verdict.correct for r in cell.values())
    assert cell["dWaa"].verdict.expected == "dWaa = np.dot(dtanh, a_prev.T)"
    for r in loop.values():
        assert r.verdict.correct and r.uses_wrong
        assert any(n.startswith("correct given a right rnn_cell_backward") and "dxt (line" in n
                   for n in r.verdict.notes)
    assert out.exit_code == 1
    assert not any(r.uses_wrong for r in by_function(check_code(RNN))["rnn_backward"].values())


def test_a_crop_outside_the_loop_over_examples_is_named_as_such():
    """The crop line moved out of `for i` writes only the last example: the diagnosis says where
    it stands, not that its slice is wrong; a wrong slice says the course's crop."""
    line = "        dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]"
    assert line in CONV
    outside = by_function(check_code(CONV.replace(line, line[4:], 1)))["conv_backward"]["dA_prev"]
    (mk,) = outside.verdict.mistakes
    assert mk.code == "wrong_pad_crop" and "outside the loop over the examples i" in mk.message
    sliced = CONV.replace(line, "        dA_prev[i, :, :, :] = da_prev_pad[:n_H_prev, :n_W_prev, :]", 1)
    (mk,) = by_function(check_code(sliced))["conv_backward"]["dA_prev"].verdict.mistakes
    assert mk.code == "wrong_pad_crop" and "the course's crop is: dA_prev[i] =" in mk.message
