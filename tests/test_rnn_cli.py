"""The RNN commands' bodies (derive.rnn.cli), called as the CLI's family dispatch calls them:
backward (text, JSON, LaTeX, Markdown), numbers, and the handout (which compiles with pdflatex)."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from derive.errors import UsageError
from derive.rnn import cli

TABLE = {"rnn": {"input": 3, "hidden": 4, "output": 2, "steps": 3, "activation": "tanh",
                 "output_activation": "softmax", "loss": "ce", "examples": 2}}


def _args(**kw):
    base = {"spec": "rnn.toml", "seed": 0, "format": "text", "steps": False, "verify": False,
            "layers": None, "act": None, "loss": None, "l2": None, "keep_prob": None,
            "batchnorm": None, "m": None, "file": None, "latex": None, "layer": False,
            "learning_rate": None, "output": None, "pdf": False, "title": None,
            "exercises": False, "sections": None}
    return argparse.Namespace(**{**base, **kw})


def test_backward_text(capsys):
    assert cli.backward(_args(steps=True, verify=True), TABLE) == 0
    out = capsys.readouterr().out
    assert "dtanh⟨t⟩ = (1 − a⟨t⟩²) ⊙ da_next⟨t⟩" in out
    assert "dWaa += np.dot(dtanh, a_prev.T)" in out  # the course's loop
    assert "da_next⟨1⟩ = da_out⟨1⟩ + da_prev⟨2⟩" in out  # --steps: unrolled
    assert "proof: all 23 formulas proven" in out
    assert "dWaa: SymPy exact" in out  # --verify


def test_backward_json_latex_markdown(capsys):
    assert cli.backward(_args(format="json"), TABLE) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["family"] == "rnn" and data["passed"] is True
    step = next(s for s in data["steps"] if s["name"] == "dtanh⟨2⟩")
    assert step["course"] == "dtanh" and step["derive"] == "∂J/∂z⟨t⟩"
    assert step["rule"] == "rnn_activation_chain" and step["proof"]["elementwise"] == "exact"
    assert cli.backward(_args(format="latex"), TABLE) == 0
    tex = capsys.readouterr().out
    assert r"dW_{aa} &= \sum_{t=1}^{3} d\tanh^{\langle t \rangle} a^{\langle t-1 \rangle\top}" in tex
    assert cli.backward(_args(format="markdown"), TABLE) == 0
    assert "$$" in capsys.readouterr().out


def test_backward_refuses_dense_flags_with_an_rnn_spec():
    with pytest.raises(UsageError, match="--layers is not supported for an RNN spec"):
        cli.backward(_args(layers="3,2"), TABLE)


def test_numbers_worked_example(capsys):
    assert cli.numbers(_args(), TABLE) == 0
    out = capsys.readouterr().out
    assert "dtanh⟨3⟩ = (1 − a⟨3⟩²) ⊙ da_next⟨3⟩ =" in out and "J = " in out
    assert cli.numbers(_args(format="json"), TABLE) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"]["dWax"]["shape"] == [4, 3]
    with pytest.raises(UsageError, match="writes text or json, not latex"):  # it printed text
        cli.numbers(_args(format="latex"), TABLE)


def test_handout_markdown(capsys):
    assert cli.handout(_args(format="markdown"), TABLE) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Backpropagation through time")
    assert "```python\ndWax = dWaa = dba = dWya = dby = 0" in out
    assert "\n    dy = y_hat - y\n" in out and "\n    da_prevt = da_prev " in out


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_handout_compiles_with_pdflatex(tmp_path, capsys):
    out = tmp_path / "bptt.tex"
    assert cli.handout(_args(output=str(out), pdf=True), TABLE) == 0
    tex = out.read_text(encoding="utf-8")
    assert tex.isascii() and "?" not in tex.split(r"\begin{document}")[1]  # nothing lost
    assert r"\section{The network}" in tex and r"\section{Backward through time}" in tex
    body = tex.split(r"\begin{document}")[1]  # the title is not a section's heading again
    assert r"\section{Backpropagation through time}" not in body
    assert (tmp_path / "bptt.pdf").read_bytes()[:5] == b"%PDF-"
    assert "wrote" in capsys.readouterr().out


SPEC = "[rnn]\ninput = 3\nhidden = 4\noutput = 2\nsteps = 3\nexamples = 2\n"


@pytest.mark.parametrize(("command", "runner", "extra", "expect"), [
    ("gradcheck", "derive.rnn.cli:gradcheck", ["--plant", "no_carry"], "FAILED"),
    ("numbers", "derive.rnn.cli:numbers", [], "worked example: tanh RNN"),
    ("handout", "derive.rnn.cli:handout", ["--format", "markdown"], "# Backpropagation through"),
])
def test_through_main_with_the_family_dispatch(tmp_path, capsys, monkeypatch, command, runner,
                                               extra, expect):
    """The command modules' FAMILIES entry that runs an RNN spec (until each lists it, the test
    adds it): the parsed flags reach the body as the CLI parses them."""
    import importlib

    from derive.cli import main

    module = importlib.import_module(f"derive.cli.{command}")
    monkeypatch.setitem(module.FAMILIES, "rnn", runner)
    spec = tmp_path / "rnn.toml"
    spec.write_text(SPEC, encoding="utf-8")
    code = main([command, "--spec", str(spec), *extra])
    assert code == (1 if command == "gradcheck" else 0)
    assert expect in capsys.readouterr().out


@pytest.mark.parametrize(("command", "flags", "named"), [
    ("backward", ["--scale", "mean"], "--scale"),
    ("backward", ["--convention", "rows"], "--convention"),
    ("backward", ["--input-gradient"], "--input-gradient"),
    ("gradcheck", ["--scale", "mean"], "--scale"),
    ("gradcheck", ["--l2", "0.1"], "--l2"),
    ("gradcheck", ["--keep-prob", "0.8"], "--keep-prob"),
    ("gradcheck", ["--loss", "mse"], "--loss"),
    ("gradcheck", ["--batchnorm", "1"], "--batchnorm"),
    ("numbers", ["--scale", "sum"], "--scale"),
    ("numbers", ["--tolerance", "0.1"], "--tolerance"),
    ("handout", ["--l2", "0.5"], "--l2"),
    ("stability", ["--act", "relu"], "--act"),
    ("stability", ["--depth", "3"], "--depth"),
    ("stability", ["--init", "he"], "--init"),
    ("stability", ["--keep-prob", "0.5"], "--keep-prob"),
])
def test_a_flag_an_rnn_spec_does_not_take_is_refused_not_ignored(tmp_path, capsys, command,
                                                                  flags, named):
    """A dense network's flag beside an RNN spec would change nothing (the RNN's own sizes,
    activation and cost are the spec's): it is a usage error naming the flag, not a run that
    looks as if it had been applied (--act relu printed a tanh RNN's stability)."""
    from derive.cli import main

    spec = tmp_path / "rnn.toml"
    spec.write_text(SPEC, encoding="utf-8")
    code = main([command, "--spec", str(spec), *flags])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert f"{named} is not supported for an RNN spec" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(("command", "flags"), [
    ("backward", ["--steps", "--verify", "--format", "json"]),
    ("gradcheck", ["--m", "1", "--eps", "1e-6", "--rtol", "1e-6", "--seed", "2", "--json"]),
    ("numbers", ["--seed", "1", "--format", "json"]),
    ("stability", ["--steps", "8", "--radius", "0.9", "--max-value", "1", "--seed", "1"]),
])
def test_the_flags_an_rnn_spec_takes_still_run(tmp_path, capsys, command, flags):
    from derive.cli import main

    spec = tmp_path / "rnn.toml"
    spec.write_text(SPEC, encoding="utf-8")
    assert main([command, "--spec", str(spec), *flags]) == 0
    assert capsys.readouterr().out


def test_a_relu_rnns_handout_writes_its_own_derivative_not_tanhs(capsys):
    """The handout's stability section and its planted mistake name the spec's activation: a relu
    RNN's J⟨t⟩ is diag(ReLU′(z⟨t⟩)) Waa, and its ∂J/∂z⟨t⟩ is dz, not dtanh."""
    table = {"rnn": {**TABLE["rnn"], "activation": "relu"}}
    assert cli.handout(_args(), table) == 0
    tex = capsys.readouterr().out
    assert r"\operatorname{diag}(1 - (a^{\langle t \rangle})^2)" not in tex
    assert r"\operatorname{diag}(\operatorname{ReLU}'(z^{\langle t \rangle}))\, W_{aa}" in tex
    assert r"dW_{aa} = dz^{\langle T \rangle} a^{\langle T-1 \rangle\top}" in tex
    assert r"d\tanh^{\langle t \rangle} &" not in tex and "dz = " in tex


@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_the_handout_typesets_without_overfull_lines(activation):
    """No line of the compiled handout runs into the margin (pdflatex's Overfull \\hbox over 1 pt;
    the identities' sources had an unbreakable rnn_cell_backward 10 pt past it)."""
    import re

    from derive.handout.document import compile_tex
    from derive.rnn.handout import handout
    from derive.rnn.spec import from_table

    log = compile_tex(handout(from_table({**TABLE["rnn"], "activation": activation}))).log
    wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 1.0 for w in wide), wide


@pytest.mark.parametrize(("command", "flags", "message"), [
    ("gradcheck", ["--eps", "0"], "--eps 0 is outside 1e-10..1e-1"),  # it ran at the default
    ("gradcheck", ["--eps", "-1"], "--eps -1 is outside 1e-10..1e-1"),  # it failed every check
    ("gradcheck", ["--rtol", "-1"], "--rtol -1 must lie between 0 and 1"),
    ("numbers", ["--seed", "-1"], "--seed -1 must be a whole number ≥ 0"),  # numpy's ValueError
])
def test_bad_numbers_on_the_command_line_are_refused(tmp_path, capsys, command, flags, message):
    from derive.cli import main

    spec = tmp_path / "rnn.toml"
    spec.write_text(SPEC, encoding="utf-8")
    assert main([command, "--spec", str(spec), *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_derivation_longer_than_the_proofs_says_how_it_was_proven():
    """Past PROOF_STEPS the proofs run on a shorter derivation, step kind by step kind: the
    'all N formulas proven' line says so rather than implying N separate proofs."""
    from derive.rnn.proof import PROOF_STEPS, derive_rnn
    from derive.rnn.render import to_text
    from derive.rnn.spec import RNN

    long_text = to_text(derive_rnn(RNN(3, 2, 2, PROOF_STEPS + 2, examples=1)))
    assert f"each by the step of the same kind of a T_x = {PROOF_STEPS} derivation" in long_text
    short_text = to_text(derive_rnn(RNN(3, 2, 2, 3, examples=1)))
    assert "of the same kind" not in short_text


def test_the_built_in_example_is_the_example_file_and_derives(capsys):
    """`derive backward --example rnn`: examples/rnn.toml, printed by --print-spec, derived and
    proven as the file is (the same output, after the example's own first line)."""
    from pathlib import Path

    from derive.cli import main
    from derive.rnn.spec import EXAMPLE

    path = Path(__file__).resolve().parent.parent / "examples" / "rnn.toml"
    assert path.read_text(encoding="utf-8") == EXAMPLE
    assert main(["backward", "--example", "rnn", "--print-spec"]) == 0
    assert capsys.readouterr().out == EXAMPLE
    assert main(["backward", "--example", "rnn"]) == 0
    first, built_in = capsys.readouterr().out.split("\n", 1)
    assert first.startswith("(built-in example: the course's tanh RNN")
    assert main(["backward", "--spec", str(path)]) == 0
    from_file = capsys.readouterr().out

    def proven(out: str) -> list[str]:  # the second run may read the first's proofs from the cache
        return [line for line in out.splitlines() if "proof cache" not in line]

    assert proven(built_in) == proven(from_file)
    assert "dWaa" in built_in and "proven" in built_in
    assert main(["backward", "--example", "rnn", "--layers", "2,1"]) == 2
    assert "give it alone" in capsys.readouterr().err


@pytest.mark.parametrize("T", [1, 3, 5])
def test_the_printed_course_loop_run_step_by_step_gives_autograds_gradients(T):
    """The loop `derive backward` prints (our own output, run here as the course runs it: the
    body once per t = T_x−1 … 0 with that step's cache values) gives the oracle's dWax, dWaa, dba,
    dWya, dby: the zeros before it and the carry of da_prev included (without the carry it is
    the no_carry mistake)."""
    import numpy as np

    from derive.rnn import render
    from derive.rnn.proof import derive_rnn
    from derive.rnn.spec import load_rnn
    from tests import oracle_rnn as O
    from tests.test_rnn_numbers import _instance

    p, x, a0, Y, _ = _instance(T, seed=T)
    na, m = a0.shape
    d = derive_rnn(load_rnn(f"[rnn]\ninput = 3\nhidden = {na}\noutput = 2\nsteps = {T}\n"), prove=False)
    lines = render.course_loop(render.generic_steps(d))
    assert lines[2] == "for t in reversed(range(T_x)):" and any("da_prevt = da_prev" in s for s in lines)
    a, yhat = O.rnn_forward(x, a0, p)
    ns = {"np": np, "n_a": na, "m": m, "T_x": T, "da": np.zeros((na, m, T)), **p}
    exec("\n".join(lines[:2]), ns)  # noqa: S102  derive's own printed loop, not user text
    body = "\n".join(line[4:] for line in lines[3:])
    for t in reversed(range(T)):
        ns.update(t=t, y_hat=yhat[:, :, t], y=Y[:, :, t], a_next=a[:, :, t], xt=x[:, :, t],
                  a_prev=a[:, :, t - 1] if t else a0)
        exec(body, ns)  # noqa: S102
    want = O.rnn_gradients(x, a0, p, Y)
    for k in ("dWax", "dWaa", "dba", "dWya", "dby"):
        np.testing.assert_allclose(ns[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(ns["da_prevt"], want["da0"], rtol=1e-10, atol=1e-12)


def test_a_relu_rnns_identities_name_dz_not_dtanh():
    """The catalogue's RNN identities are written for the course's tanh cell; a relu network's
    --steps and handout write them with its own dz and no tanh′."""
    from derive.rnn import render
    from derive.rnn.proof import derive_rnn
    from derive.rnn.spec import load_rnn

    d = derive_rnn(load_rnn('[rnn]\ninput = 2\nhidden = 3\noutput = 2\nsteps = 2\nactivation = "relu"\n'),
                   prove=False)
    for s in render.generic_steps(d):
        title, index, latex, source = render.identity_parts(d, s.identity)
        assert "dtanh" not in index and r"d\tanh" not in latex and "(tanh:" not in index
        assert "dtanh" not in source.replace("dtanh = (1 - a_next ** 2) * da_next for tanh", "")
    tanh = derive_rnn(load_rnn("[rnn]\ninput = 2\nhidden = 3\noutput = 2\nsteps = 2\n"), prove=False)
    s = next(s for s in render.generic_steps(tanh) if s.rule == "rnn_input_gradient")
    assert render.identity_parts(tanh, s.identity)[1] == s.identity.index  # tanh: as written


def test_spec_mistakes_are_named_as_the_user_wrote_them(tmp_path, capsys):
    """[[rnn]] and rnn = 5 are an RNN spec written wrong (not a dense spec's unknown key); a
    refused flag is named by its long form; a CNN's examples meets its own limit."""
    from derive.cli import main

    for text, shown in (("[[rnn]]\ninput = 3\n", "[[rnn]], an array of tables"), ("rnn = 5\n", "not 5")):
        spec = tmp_path / "s.toml"
        spec.write_text(text)
        assert main(["backward", "--spec", str(spec)]) == 2
        err = capsys.readouterr().err
        assert f"{spec}: 'rnn' must be one table, [rnn]" in err and shown in err
    rnn = tmp_path / "rnn.toml"
    rnn.write_text("[rnn]\ninput = 3\nhidden = 5\noutput = 2\nsteps = 4\n")
    assert main(["numbers", "--spec", str(rnn), "--learning-rate", "0.1"]) == 2
    assert "derive numbers --learning-rate is not supported" in capsys.readouterr().err
    cnn = tmp_path / "cnn.toml"
    cnn.write_text('input = [4, 4, 1]\nexamples = 100000\nloss = "bce"\n[[layer]]\nkind = "flatten"\n'
                   '[[layer]]\nkind = "dense"\nunits = 1\nactivation = "sigmoid"\n')
    assert main(["backward", "--spec", str(cnn)]) == 2
    assert "(conv.examples)" in capsys.readouterr().err
