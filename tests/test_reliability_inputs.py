"""Hostile and careless inputs to the engine, the network spec and ``derive numbers``, replayed
through the Python API and through ``derive.cli.main`` in-process: every one is a clean
:class:`derive.DeriveError` (exit code 2) that names the file, the array, the entry or the limit,
never a traceback, an assert or an allocation of gigabytes.

Each case is small (the hostile part is a string, refused before anything is allocated); the
one case that would allocate if a limit failed runs in a subprocess capped at 2 GB.
"""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import derive
from derive.catalogue import rules
from derive.cli import main
from derive.core import expr as E
from derive.engine import proof as P
from derive.engine.backward import derive as run
from derive.errors import DeriveError, InternalError, ParseError, ResourceLimit, SpecError
from derive.limits import DECLARED
from derive.network import model
from derive.network.spec import DEPTH, LAYER_SIZE, SPEC_BYTES, Network
from derive.network.textfile import NESTING
from derive.numbers.files import FILE_BYTES, read_file
from derive.numbers.inputs import ENTRIES
from derive.numbers.worked import WORK, worked_example

PACKAGE = Path(derive.__file__).resolve().parent
NET = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """``derive ARGV`` in-process: the exit code and what it printed (never a traceback)."""
    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err + out.out


# -- network specs -------------------------------------------------------------------------------
DEEP = "layers = " + "[" * 100_000 + "]" * 100_000 + "\n"
DIGITS = "layers = [3, " + "1" * 5000 + ", 1]\nactivations = ['relu', 'sigmoid']\n"


@pytest.mark.parametrize("text, where, what", [
    (DEEP, "line 1, column 42", "nested more than 32 levels deep"),  # 'layers = ' + 32 brackets
    ("[" + ".".join(["a"] * 100_000) + "]\nx = 1\n", "line 1, column 65", "nested more than 32"),
    (".".join(["a"] * 100_000) + " = 1\n", "line 1, column 66", "nested more than 32"),
    ("a = " + "{b = " * 100_000 + "1" + "}" * 100_000 + "\n", "line 1, column", "nested more than 32"),
    (DIGITS, "line 1, column 14", "a number with 5,000 digits"),
    ("layers = [3, 3]\nloss = \n", "line 2, column 8", "malformed TOML: invalid value"),
], ids=["arrays", "dotted-header", "dotted-key", "inline-tables", "digits", "malformed"])
def test_hostile_spec_files_name_the_file_line_and_column(tmp_path, capsys, text, where, what):
    spec = tmp_path / "net.toml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        Network.from_toml(spec)
    message = str(err.value)
    assert message.startswith(f"{spec}, {where}") and what in message
    for argv in (["backward", "--spec", str(spec)], ["check", "--spec", str(spec), "dZ2 = A2 - Y"]):
        code, stderr = cli(argv, capsys)
        assert code == 2 and what in stderr


def test_a_size_with_5000_digits_is_named_by_its_length_everywhere(tmp_path, capsys):
    huge = "9" * 5000
    spec = tmp_path / "net.toml"
    spec.write_text(f'layers = "3,{huge},1"\n', encoding="utf-8")  # a string: no TOML int()
    with pytest.raises(SpecError, match=rf"^{spec}: layer size 1 has 5,000 digits: at most 100,000"):
        Network.from_toml(spec)
    with pytest.raises(SpecError, match="layer size 1 has 5,000 digits"):
        Network.from_strings(f"3,{huge},1")
    with pytest.raises(SpecError, match="layer size n1 has about 5,000 digits"):
        Network(layers=[3, 10**4999, 1])  # a Python int: str() of it would raise ValueError
    code, err = cli(["backward", "--layers", f"3,{huge},1"], capsys)
    assert code == 2 and "5,000 digits" in err and len(err) < 300  # not echoed whole


def test_sizes_and_depth_are_declared_limits(tmp_path, capsys):
    assert (LAYER_SIZE.value, LAYER_SIZE.unit, DEPTH.value, DEPTH.unit) == (100_000, "units", 1000, "layers")
    assert Network(layers=[3, LAYER_SIZE.value, 1]).layers[1] == 100_000  # the limit itself is fine
    with pytest.raises(ResourceLimit) as err:
        Network(layers=[3, LAYER_SIZE.value + 1, 1])
    assert err.value.name == "network.layer_size" and err.value.amount == 100_001
    assert "layer n1 needs 100,001 units" in str(err.value) and "--layers" in str(err.value)
    assert Network(depth=DEPTH.value).L == 1000
    for build in (lambda: Network(depth=1001), lambda: Network(layers=[2] * 1002),
                  lambda: Network(activations=["tanh"] * 1001)):
        with pytest.raises(ResourceLimit, match=r"1,001 layers, over the limit of 1,000 layers \(network.depth\)"):
            build()
    spec = tmp_path / "deep.toml"
    spec.write_text("inputs = 2\n" + "[[layer]]\nunits = 2\n" * 1001, encoding="utf-8")
    with pytest.raises(ResourceLimit, match=rf"the network of {spec} needs 1,001 layers"):
        Network.from_toml(spec)
    code, err = cli(["backward", "--layers", ",".join(["2"] * 1002)], capsys)
    assert code == 2 and "network.depth" in err


def test_a_spec_over_1_mib_is_refused_before_it_is_parsed(tmp_path, capsys):
    spec = tmp_path / "big.toml"
    spec.write_text("# " + "x" * SPEC_BYTES.value + "\nlayers = [3, 1]\n", encoding="utf-8")
    with pytest.raises(ResourceLimit) as err:
        Network.from_toml(spec)
    assert err.value.name == "network.spec_bytes" and err.value.amount == spec.stat().st_size
    assert str(spec) in str(err.value)
    code, err_text = cli(["backward", "--spec", str(spec)], capsys)
    assert code == 2 and "network.spec_bytes" in err_text


def test_every_limit_here_is_declared_once_with_a_flag():
    mine = {"network.depth": DEPTH, "network.layer_size": LAYER_SIZE, "network.spec_bytes": SPEC_BYTES,
            "input.nesting": NESTING, "network.instance_entries": model.INSTANCE,
            "numbers.file_bytes": FILE_BYTES, "numbers.entries": ENTRIES,
            "numbers.worked_entries": WORK}
    for name, limit in mine.items():
        assert DECLARED[name] is limit and limit.value > 0 and limit.flag


# -- the engine on huge and deep networks --------------------------------------------------------
def test_a_100000_wide_network_is_proven_at_small_sizes():
    # The finite differences run at most 16 units wide and the exact proof at 2-3: nothing is
    # allocated by the network's own sizes (a 100,000 × 100,000 W would be 80 GB).
    d = derive.backward(Network(layers=[100_000, 100_000, 1], activations=["relu", "sigmoid"], loss="bce"))
    assert d.proof.passed and d.proof.fd_sizes == (16, 16, 1) and d.proof.fd_m == 4
    assert max(f.entries for f in d.proof.formulas) <= 9


def _random_net(rng: random.Random, depth: int) -> Network:
    acts = ["relu", "tanh", "sigmoid", "gelu", "swish", "softplus", "elu", "leaky_relu", "linear"]
    return Network(layers=[rng.randint(1, 40) for _ in range(depth + 1)],
                   activations=[rng.choice(acts) for _ in range(depth - 1)] + ["sigmoid"], loss="bce")


def test_a_deep_varied_network_poses_a_bounded_number_of_local_problems():
    # 400 layers of random sizes and activations: the local problems repeat (a problem reads two
    # layers, each of 3 sizes at the exact proof's scale and 9 activations), so their number does
    # not grow with the depth; keyed on a window of three layers there were about one per formula.
    rng = random.Random(2)
    counts = []
    for depth in (200, 400):
        d = run(_random_net(rng, depth), prove=False)
        snet = P._symbolic_net(d.network)
        counts.append(len({P._local_key(snet, f) for f in d.formulas}))
    assert counts[0] < 200 and counts[1] < 200 and len(d.formulas) == 1600


def test_a_wrong_derivative_never_borrows_the_proof_of_a_right_one():
    # Layers 2 (tanh) and 3 (sigmoid) are alike but for their activation: σ′ planted in dZ[2]
    # reads exactly as layer 3's correct dZ[3], relative to its layer, and must still fail.
    sigmoid = rules.activations()["sigmoid"]
    net = Network(layers=[2, 2, 2, 2, 2], activations=["sigmoid", "tanh", "sigmoid", "tanh"], loss="mse")
    d = run(net, prove=False)
    dZ2 = d.formula("dZ", 2).expr
    wrong = E.Hadamard(dZ2.left, E.Deriv(sigmoid, 2, dZ2.right.arg))
    d = replace(d, formulas=tuple(replace(f, expr=wrong) if f.name == "dZ[2]" else f for f in d.formulas))
    p = P.prove(d)
    verdicts = {f.name: (f.elementwise, f.fd_passed) for f in p.formulas}
    assert verdicts["dZ[2]"] == ("failed", False) and verdicts["dZ[3]"] == ("exact", True)


def test_sharing_a_proof_never_changes_a_verdict():
    # Wrong formulas planted at random: each formula's exact verdict with shared proofs equals the
    # verdict of its own problem proven alone.
    rng = random.Random(5)
    sigmoid = rules.activations()["sigmoid"]

    def swap(e):
        return E.Deriv(sigmoid, e.layer, e.arg) if isinstance(e, E.Deriv) else E.map_children(e, swap)

    checked = 0
    for _ in range(6):
        L = rng.randint(3, 5)
        acts = [rng.choice(["relu", "tanh", "sigmoid", "linear"]) for _ in range(L)]
        net = Network(layers=[rng.randint(1, 3) for _ in range(L + 1)], activations=acts,
                      loss=rng.choice(["mse", None]), convention=rng.choice(["columns", "rows"]))
        d = run(net, prove=False)
        forms = list(d.formulas)
        for i in rng.sample(range(len(forms)), 3):
            wrong = E.Scale(2, forms[i].expr) if rng.random() < 0.5 else swap(forms[i].expr)
            forms[i] = replace(forms[i], expr=wrong)
        d = replace(d, formulas=tuple(forms))
        snet = P._symbolic_net(net)
        shared = P._elementwise(d)
        for i, f in enumerate(d.formulas):  # the shared proofs are keyed by position
            assert shared[i][0] == P._prove_local(snet, f)[0], (net.describe(), f.name)
            checked += 1
    assert checked > 80


# -- seeds ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, None, 2**63, 10**5000],
                         ids=["-1", "1.5", "str", "True", "None", "2**63", "10**5000"])
def test_a_seed_is_a_whole_number_at_least_0(seed):
    d = run(NET, prove=False)
    for call in (lambda: P.prove(d, seed=seed), lambda: model.random_instance(NET, seed=seed)):
        with pytest.raises(DeriveError, match="seed must be a whole number ≥ 0") as err:
            call()
        assert len(str(err.value)) < 120
    assert P.prove(d, seed=np.int64(3)).seed == 3  # numpy's integers are whole numbers


def test_seed_minus_1_on_the_command_line(capsys):
    code, err = cli(["backward", "--seed", "-1"], capsys)
    assert code == 2 and "--seed" in err


def test_a_random_instance_is_estimated_before_it_is_drawn():
    wide = Network(layers=[100_000, 100_000, 1], activations=["relu", "sigmoid"], loss="bce")
    with pytest.raises(ResourceLimit) as err:
        model.random_instance(wide, m=2)
    # X and Y (n·m), then per layer W, b, and Z, A and a dropout mask D (n·m each, an upper
    # bound: only a hidden layer with dropout has D): W1 alone is 10^10 entries
    x_y = 100_000 * 2 + 1 * 2
    layer1 = 100_000 * 100_000 + 100_000 + 3 * 100_000 * 2
    layer2 = 1 * 100_000 + 1 + 3 * 1 * 2
    assert err.value.amount == x_y + layer1 + layer2 == 10_001_000_009
    assert err.value.name == "network.instance_entries" and "--layers" in str(err.value)
    assert model.instance_entries((3, 3, 1), 4) == 12 + 4 + (9 + 3 + 36) + (3 + 1 + 12)


def test_refusals_allocate_nothing_under_2_gb():
    code = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from derive.cli import main
from derive.errors import ResourceLimit
from derive.network import model
from derive.network.spec import Network
assert main(["backward", "--layers", "100000,100000,1", "--act", "relu,sigmoid", "--loss", "bce"]) == 0
try:
    model.random_instance(Network(layers=[100000, 100000, 1]), m=64)
except ResourceLimit:
    sys.exit(7)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 7, done.stderr[-2000:]
    assert "Proof: all proven" in done.stdout


# -- derive numbers --------------------------------------------------------------------------------
VALUES = {"X": [[20], [3], [4]], "Y": [[0.5]], "W1": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
          "b1": [[0.1], [0.2], [0.3]], "W2": [[0.2, 0.4, 0.6]], "b2": [[0.5]]}
NUMBERS_NET = {"layers": [3, 3, 1], "activations": ["relu", "sigmoid"], "loss": "mse"}


def numbers_json(tmp_path, values=None, student=None, network=None, raw=None) -> Path:
    doc = {"network": network or NUMBERS_NET, "values": values or VALUES}
    if student is not None:
        doc["student"] = student
    f = tmp_path / "numbers.json"
    f.write_text(raw if raw is not None else json.dumps(doc), encoding="utf-8")  # NaN written as NaN
    return f


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_name_the_array_and_the_entry(tmp_path, capsys, token):
    values = {**VALUES, "W1": [[0.1, 0.2, 0.3], [0.4, 0.5, float(token.replace("Infinity", "inf"))],
                               [0.7, 0.8, 0.9]]}
    f = numbers_json(tmp_path, values)
    assert token in f.read_text(encoding="utf-8")  # json.dumps writes what a careless tool writes
    with pytest.raises(ParseError, match=rf"^{f}: values.W1: entry \(2, 3\) is {token}: every value must be a finite"):
        read_file(f)
    code, err = cli(["numbers", str(f)], capsys)
    assert code == 2 and f"values.W1: entry (2, 3) is {token}" in err


def test_nan_anywhere_names_where(tmp_path):
    flat = numbers_json(tmp_path, {**VALUES, "b1": [0.1, float("nan"), 0.3]})
    with pytest.raises(ParseError, match=r"values.b1: entry 2 is NaN"):
        read_file(flat)
    student = numbers_json(tmp_path, student={"z1": [3.9, float("inf"), 20.3]})
    with pytest.raises(ParseError, match=r"student.z1: entry 2 is Infinity"):
        read_file(student)
    toml = tmp_path / "numbers.toml"
    toml.write_text('[network]\nlayers = [1, 1]\nactivations = ["linear"]\nloss = "mse"\n'
                    "[values]\nX = [[1.0]]\nY = [[1.0]]\nW1 = [[-inf]]\nb1 = [[0.0]]\n", encoding="utf-8")
    with pytest.raises(ParseError, match=rf"^{toml}: values.W1: entry \(1, 1\) is -Infinity"):
        read_file(toml)
    net = Network(layers=[1, 1], activations=["linear"], loss="mse")
    with pytest.raises(SpecError, match=r"X entry \(1, 2\) is nan: every value must be a finite number"):
        worked_example(net, {"X": np.array([[1.0, np.nan]]), "Y": [[1.0, 1.0]], "W1": [[1.0]], "b1": [[0.0]]})


def test_a_forward_pass_that_overflows_names_the_layer_and_quantity(tmp_path, capsys):
    # X = 1e300, W1 = 1e10: Z[1] = 1e310 is past float64's 1.8e308 (was: AssertionError
    # "Z[1] disagrees with the forward model" or an OverflowError while printing)
    values = {**VALUES, "X": [[1e300], [1e300], [1e300]], "W1": [[1e10, 10, 10], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]}
    f = numbers_json(tmp_path, values, network={**NUMBERS_NET, "activations": ["relu", "linear"]})
    code, err = cli(["numbers", str(f)], capsys)
    assert code == 2
    assert "the forward pass overflows at Z[1] (layer 1): entry (1, 1) is inf" in err
    assert "largest magnitude 1e+300" in err
    # through the API, the X = 1e308 (a file refuses exponents over 300 as it reads them)
    net = Network(layers=[3, 3, 1], activations=["relu", "linear"], loss="mse")
    # Z[1]'s rows: 0.6e308, 1.5e308 and 2.4e308, the first past float64's 1.8e308
    with pytest.raises(DeriveError, match=r"the forward pass overflows at Z\[1\] \(layer 1\): entry \(3, 1\)"):
        worked_example(net, {**VALUES, "X": [[1e308], [1e308], [1e308]]})
    code, err = cli(["numbers", str(numbers_json(tmp_path, {**VALUES, "X": [[1e308], [1], [1]]}))], capsys)
    assert code == 2 and "exponent out of range in '1e+308'" in err and str(f) in err


def test_an_infinite_cost_names_j(tmp_path):
    # sigmoid(40) is 1.0 in float64, so bce's log(1 − a) is log 0 for the target 0
    net = Network(layers=[1, 1], activations=["sigmoid"], loss="bce")
    with pytest.raises(DeriveError, match=r"the forward pass overflows at J \(the cost\): entry \(1, 1\) is inf"):
        worked_example(net, {"X": [[40.0]], "Y": [[0.0]], "W1": [[1.0]], "b1": [[0.0]]})
    # (mse, overflow of the square) the same step, another reason
    net = Network(layers=[1, 1], activations=["linear"], loss="mse")
    with pytest.raises(DeriveError, match=r"overflows at J .*too large for float64"):
        worked_example(net, {"X": [[1e200]], "Y": [[0.0]], "W1": [[1.0]], "b1": [[0.0]]})


def test_a_students_huge_numbers_match_nothing_and_stay_valid_json(tmp_path, capsys):
    f = numbers_json(tmp_path, {"X": [[2]], "Y": [[1]], "W1": [[1]], "b1": [[0]]},
                     student={"Z1": "1e300", "J": "1e300", "dW1": 4},
                     network={"layers": [1, 1], "activations": ["linear"], "loss": "mse"})
    assert main(["numbers", "--json", str(f)]) == 1
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    J = next(s for s in out["steps"] if s["name"] == "J")
    assert J["status"] == "wrong" and J["cause"] == "new_slip"  # (1e300 − 1)² is inf, not 1e300
    assert J["recomputed_from_student"] == [[None]]
    assert next(s for s in out["steps"] if s["name"] == "dW1")["status"] == "right"


@pytest.mark.parametrize("raw, what", [
    ('{"values": {"X": ' + "[" * 100_000 + "1" + "]" * 100_000 + "}}", "line 1, column 48: nested more than 32"),
    ('{"values": {"X": [[' + "1" * 5000 + "]]}}", "line 1, column 20: a number with 5,000 digits"),
    ('{"values": {"X": [[1]],\n "Y": [[1]}}', "line 2, column 11: malformed JSON"),
], ids=["nested", "digits", "malformed"])
def test_hostile_numbers_files_name_the_line_and_column(tmp_path, capsys, raw, what):
    f = numbers_json(tmp_path, raw=raw)
    with pytest.raises(ParseError, match=rf"^{f}, {what}"):
        read_file(f)
    code, err = cli(["numbers", str(f)], capsys)
    assert code == 2 and what in err


def test_numbers_files_and_their_arrays_are_bounded(tmp_path, capsys):
    big = numbers_json(tmp_path, raw="{" + " " * FILE_BYTES.value + "}")
    with pytest.raises(ResourceLimit, match="numbers.file_bytes"):
        read_file(big)
    many = numbers_json(tmp_path, {**VALUES, "X": [[0.5] * (ENTRIES.value + 1)]})
    with pytest.raises(ResourceLimit) as err:
        read_file(many)
    assert err.value.name == "numbers.entries" and err.value.amount > ENTRIES.value
    # 4,000 numbers given, but Z[1], A[1], dA[1], dZ[1] and g′ are 1000 × 1000 each
    rng = np.random.default_rng(0)
    wide = numbers_json(tmp_path, {"X": [rng.normal(size=1000).round(2).tolist()], "Y": [[0.5] * 1000],
                                   "W1": [[0.1]] * 1000, "b1": [[0.0]] * 1000, "W2": [[0.1] * 1000], "b2": [[0.0]]},
                        network={"layers": [1, 1000, 1], "activations": ["tanh", "sigmoid"], "loss": "bce"})
    code, err_text = cli(["numbers", str(wide)], capsys)
    assert code == 2 and "numbers.worked_entries" in err_text and "m = 1000" in err_text


def test_text_that_once_took_quadratic_time_is_read_in_one_pass(tmp_path):
    # 30,000 unclosed \\[ took 33 s (a lazy display regex rescanned to the end from each), and
    # a number followed by 32,000 spaces 37 s (nested optional spaces in the number pattern);
    # 300,000 of each now fit in well under the test's time
    fragment = tmp_path / "post.tex"
    fragment.write_text("\\[" * 300_000, encoding="utf-8")
    with pytest.raises(ParseError, match="no given values found"):
        read_file(fragment, latex=True)
    spaced = numbers_json(tmp_path, {**VALUES, "Y": [["1" + " " * 300_000 + "x"]]})
    with pytest.raises(ParseError, match=r"values.Y: not a number: '1 .*300,002 characters; a number is at most 100"):
        read_file(spaced)


# -- no assert for what a user can cause ---------------------------------------------------------
MINE = [*(PACKAGE / "network").glob("*.py"), *(PACKAGE / "engine").glob("*.py"),
        *(PACKAGE / "catalogue").glob("*.py"),
        *(PACKAGE / "numbers" / f"{name}.py" for name in ("files", "inputs", "latex", "render", "student", "worked"))]


def test_no_assert_statements_in_the_engine_spec_and_numbers():
    # python -O strips asserts, and an AssertionError reads as a bug: inputs are DeriveErrors and
    # broken invariants InternalErrors
    found = [f"{p.relative_to(PACKAGE)}:{node.lineno}" for p in MINE
             for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))) if isinstance(node, ast.Assert)]
    assert len(MINE) > 12 and found == []


def test_the_forward_cross_check_is_an_internal_error(monkeypatch):
    # a disagreement of finite values between the worked example and the forward model is a bug
    net = Network(layers=[1, 1], activations=["linear"], loss="mse")
    real = model.forward

    def off_by_one(*args, **kw):
        cache = real(*args, **kw)
        return {**cache, ("Z", 1): cache["Z", 1] + 1}

    monkeypatch.setattr(model, "forward", off_by_one)
    with pytest.raises(InternalError, match="Z\\[1\\] of the worked example disagrees .* bug in derive"):
        worked_example(net, {"X": [[2.0]], "Y": [[1.0]], "W1": [[1.0]], "b1": [[0.0]]})


def test_a_parse_error_in_a_long_input_shows_an_excerpt_everywhere():
    """ParseError.describe itself excerpts (not only the checker): every command that prints
    one shows 60 characters either side of the position, not a 10,000-character line."""
    from derive.errors import EXCERPT, ParseError

    text = "a" * 5000 + "?" + "b" * 5000
    lines = ParseError("unexpected '?'", 5000, text).describe().splitlines()
    assert lines[0] == "unexpected '?' (at position 5001)"
    assert lines[1].strip() == "…" + "a" * EXCERPT + "?" + "b" * (EXCERPT - 1) + "…"
    assert lines[2].index("^") == lines[1].index("?")
