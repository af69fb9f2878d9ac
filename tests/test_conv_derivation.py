"""The CNN derivation: its steps and cited identities (golden), both proofs on conv → pool →
flatten → dense with stride 2 and pad 1, planted mistakes failing them, the course's loop forms
run against the derived nodes, the spec's errors, the family dispatch and the CLI."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

import numpy as np
import pytest

from derive.catalogue import rules
from derive.cli import main
from derive.conv import derive_cnn, load_cnn
from derive.conv.proof import prove_cnn, prove_step
from derive.conv.spec import EXAMPLE
from derive.core import convolution as C
from derive.core import tensor as T
from derive.errors import ProofFailure, ResourceLimit, SpecError
from derive.network.family import spec_family
from tests import oracle_conv as oracle

AVERAGE = EXAMPLE.replace('mode = "max"', 'mode = "average"').replace('"relu"', '"tanh"')


@pytest.fixture(scope="module")
def proven():
    return derive_cnn(load_cnn(EXAMPLE))


def test_golden_steps_and_their_identities(proven):
    got = [(s.layer, s.name, s.rule) for s in proven.steps]
    assert got == [
        (4, "dA[4]", "loss_gradient"), (4, "dZ[4]", "softmax_chain"),
        (4, "dZ[4]", "output_simplification"), (4, "dW[4]", "weight_gradient"),
        (4, "db[4]", "bias_gradient"), (4, "dA[3]", "input_gradient"),
        (3, "dA[2]", "flatten_gradient"), (2, "dA[1]", "maxpool_gradient"),
        (1, "dZ[1]", "conv_activation_chain"), (1, "dW[1]", "conv_weight_gradient"),
        (1, "db[1]", "conv_bias_gradient"), (1, "dX", "conv_input_gradient"),
    ]
    texts = {s.name: s.text for s in proven.steps}
    assert texts["dW[1]"] == "dW[1] = (1/m) corr_W(pad(X, 1), dZ[1], s=2)"
    assert texts["dX"] == "dX = crop(fullconv(dilate(dZ[1], 2), W[1]), 1)"
    assert texts["db[1]"] == "db[1] = (1/m) Σ_{i,h,w} dZ[1]"
    assert texts["dW[4]"] == "dW[4] = (1/m) dZ[4] A[3]ᵀ"  # the dense head, renumbered
    catalogue = rules.identities()
    for s in proven.steps:
        assert s.rule in catalogue, s.rule
        assert not re.search(r"\{[lpns]\}|\{\+?bias\}|\{l2\}", s.index + s.index_latex), s.index
    assert "∂J/∂W[1][a,b,k,c] = (1/m) Σ_{i,h,w} P[i, s·h+a, s·w+b, k] dZ[1][i,h,w,c]" in \
        proven.step("dW", 1).index


def test_the_loop_forms_are_the_courses(proven):
    assert ("dA_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, :] += W[:, :, :, c] * dZ[i, h, w, c]"
            in proven.step("dA", 0).loop)
    assert "a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]" in proven.step("dW", 1).loop
    assert "dA_prev = dA_prev_pad[:, 1:-1, 1:-1, :]" in proven.step("dA", 0).loop
    assert "dW[:, :, :, c] += a_slice * dZ[i, h, w, c]" in proven.step("dW", 1).loop
    assert "mask = a_prev_slice == np.max(a_prev_slice)" in proven.step("dA", 1).loop


@pytest.fixture(scope="module")
def average():
    return derive_cnn(load_cnn(AVERAGE), prove=False)


@pytest.mark.parametrize("which,kind,layer", [
    ("max", "dW", 1), ("max", "db", 1), ("max", "dA", 0), ("max", "dA", 1), ("max", "dA", 2),
    ("average", "dA", 1), ("average", "dW", 1)])
def test_each_loop_form_run_gives_the_derived_numbers(proven, average, which, kind, layer):
    """The loop text is the derivation's own (never user text): run it on numbers and compare with
    the node's value, so the loop form printed beside each formula is the same computation."""
    from derive.core.names import m as M
    d = proven if which == "max" else average
    rng = np.random.default_rng(5)
    m = 2
    step = d.step(kind, layer)
    here = d.cnn.layer(step.layer)
    conv = d.cnn.layer(1)
    A_prev = rng.normal(size=(m, *here.in_shape))
    W = rng.normal(size=(conv.size, conv.size, conv.in_shape[2], conv.filters))
    b = np.zeros((1, 1, 1, conv.filters))
    out = here.out_shape
    upstream = rng.normal(size=(m, *out) if len(out) == 3 else (out[0], m))
    n_H, n_W, n_C = out if len(out) == 3 else (0, 0, 0)
    scope = {"np": np, "m": m, "n_H": n_H, "n_W": n_W, "n_C": n_C, "A_prev": A_prev, "W": W, "b": b,
             "dZ": upstream, "dA": upstream}
    exec(compile(step.loop, f"<loop form of {step.name}>", "exec"), scope)  # noqa: S102
    result = scope["dA_prev" if kind == "dA" else kind]
    l = step.layer
    env = {("A", l - 1): A_prev, ("W", l): W, ("b", l): b, ("dZ", l): upstream, ("dA", l): upstream}
    expected = T.tevaluate(step.expr, env, T.NumpyTensors({M: m}))
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("text", [EXAMPLE, AVERAGE], ids=["max-relu", "average-tanh"])
def test_both_proofs_pass_with_stride_2_and_pad_1(text, proven):
    d = proven if text is EXAMPLE else derive_cnn(load_cnn(text))
    assert d.passed
    for s in d.steps:
        assert s.proof.elementwise == "exact" and s.proof.entries > 0, s.name
        assert s.proof.fd_error < 1e-7, (s.name, s.proof.fd_error)
        if not s.dense:
            assert s.proof.method.startswith("SymPy on the printed formula"), s.proof.method
    assert d.cnn.layer(1).stride == 2 and d.cnn.layer(1).pad == 1


def test_a_large_layer_is_proven_on_a_tiny_instance_of_the_same_rule():
    big = EXAMPLE.replace("input = [6, 6, 2]", "input = [40, 40, 3]").replace("filters = 3", "filters = 8")
    d = derive_cnn(load_cnn(big))
    conv = [s for s in d.steps if s.layer == 1]
    assert all(s.proof.passed for s in conv)
    assert any("tiny instance" in s.proof.method for s in conv)


@dataclass(frozen=True)
class SwapFilterAxes(T.Tensor):
    """W with its channel axes swapped but not rotated: the 'unflipped filters' mistake."""

    arg: T.Tensor

    @property
    def shape(self):
        f1, f2, k, c = self.arg.shape
        return (f1, f2, c, k)

    def children(self):
        return (self.arg,)

    def compute(self, be, ev, env):
        return np.transpose(ev(self.arg), (0, 1, 3, 2))

    def to_text(self):
        return f"swap({self.arg.to_text()})"


def _unflipped(e):
    full = e.arg  # crop(fullconv(dilate(dZ), W)) → crop(corr(pad(dilate(dZ), f − 1), W swapped))
    f = full.weights.shape[0]
    return T.Crop(C.Correlate(T.Pad(full.arg, f - 1), SwapFilterAxes(full.weights), 1), e.pad, e.size)


MUTANTS = {
    "unflipped filters": ("dA", 1, _unflipped),
    "pad cropped one off": ("dA", 1, lambda e: T.Crop(e.arg, e.pad - 1, e.size)),
    "missing 1/m in dW": ("dW", 1, lambda e: e.arg),
    "missing 1/m in db": ("db", 1, lambda e: e.arg),
    "db not summed over the examples": ("db", 1, lambda e: T.TScale(e.factor, T.TSum(e.arg.arg, (1, 2)))),
    "wrong activation derivative": ("dZ", 1, lambda e: T.THadamard(
        e.left, T.TDeriv(rules.activations()["sigmoid"], e.right.arg))),
    "average spread for a max pool": ("dA", 2, lambda e: C.AvgSpread(e.grad, e.size, e.stride, e.arg.shape)),
}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_a_planted_mistake_fails_both_proofs(proven, name):
    kind, layer, mutate = MUTANTS[name]
    step = next(s for s in proven.steps if s.kind == kind and s.layer == layer and not s.dense)
    assert prove_step(proven, step).passed
    wrong = prove_step(proven, replace(step, expr=mutate(step.expr), proof=None))
    assert wrong.elementwise == "failed" and not wrong.fd_passed, name


def test_a_failed_step_fails_the_derivation(proven):
    step = proven.step("dW", 1)
    steps = tuple(replace(s, expr=s.expr.arg) if s is step else s for s in proven.steps)
    with pytest.raises(ProofFailure, match=r"dW\[1\] \(layer 1\)"):
        prove_cnn(replace(proven, steps=steps, proof=None), strict=True)


def _spec(inp, layers, loss, head) -> str:
    text = f"input = {inp}\nloss = \"{loss}\"\n"
    for kind, keys in layers:
        text += f'[[layer]]\nkind = "{kind}"\n' + "".join(
            f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n" for k, v in keys.items())
    text += '[[layer]]\nkind = "flatten"\n'
    for units, act in head:
        text += f'[[layer]]\nkind = "dense"\nunits = {units}\nactivation = "{act}"\n'
    return text


NETWORKS = {
    "sigmoid conv, bce": ([5, 5, 1], [("conv2d", dict(filters=2, size=2, activation="sigmoid"))],
                          "bce", [(1, "sigmoid")]),
    "average pool first, tanh conv": (
        [6, 5, 2], [("pool", dict(mode="average", size=2, stride=2)),
                    ("conv2d", dict(filters=2, size=3, pad=1, activation="tanh"))],
        "ce", [(3, "relu"), (2, "softmax")]),
    "two strided convs, leaky relu, mse": (
        [7, 7, 1], [("conv2d", dict(filters=2, size=3, stride=2, pad=1, activation="relu")),
                    ("conv2d", dict(filters=3, size=2, stride=2, activation="leaky_relu")),
                    ("pool", dict(mode="max", size=1, stride=1))],
        "mse", [(2, "linear")]),
    "5×5 filters, stride 3, pad 2": (
        [8, 8, 3], [("conv2d", dict(filters=4, size=5, stride=3, pad=2, activation="relu")),
                    ("pool", dict(mode="max", size=2, stride=1))],
        "ce", [(3, "softmax")]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NETWORKS))
def test_more_networks_pass_both_proofs(name):
    d = derive_cnn(load_cnn(_spec(*NETWORKS[name])))
    assert d.passed, [(s.name, s.proof.elementwise, s.proof.fd_error) for s in d.steps if not s.proof.passed]


# -- the spec -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,message", [
    ('input = [4, 4]\n[[layer]]\nkind = "flatten"\n', r"key 'input': \[n_H, n_W, n_C\]"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 2\nsize = 3\npad = -1\n',
     r"layer 1 \(conv2d\): key 'pad': -1 is below 0"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "pool"\nsize = 2\nmode = "min"\n',
     r"layer 1 \(pool\): key 'mode': 'min' is not one of max, average"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "flatten"\n[[layer]]\nkind = "pool"\nsize = 2\n',
     r"layer 2 \(pool\): only dense layers may follow the flatten layer"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 1\nsize = 1\nstrides = 2\n',
     r"layer 1 \(conv2d\): unknown key 'strides'; known: kind, filters, size, stride, pad, activation"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 1\nsize = 1\nactivation = "softmax"\n',
     r"layer 1 \(conv2d\): key 'activation': softmax is not element-wise"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 1\nsize = 1\n',
     r"layer 1 \(conv2d\): the last layer must be dense"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 1\nsize = 1\n[[layer]]\nkind = "dense"\n'
     'units = 2\n', r"layer 2 \(dense\): a dense layer needs a flatten layer before it \(layer 1's "
     r"output is 4×4×1 per example; add a \[\[layer\]\] with kind = \"flatten\" before it\)"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "dense"\nunits = 2\n',
     r"layer 1 \(dense\): a dense layer needs a flatten layer before it \(the input is 4×4×1"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 1\nsize = true\n',
     r"layer 1 \(conv2d\): key 'size': true is not a whole number"),
])
def test_spec_errors_name_the_layer_and_the_key(text, message):
    with pytest.raises(SpecError, match=message):
        load_cnn(text, where="net.toml")


@pytest.mark.parametrize("text", [
    'input = [4, 4, 1]\n[[layer]]\nkind = ["conv2d"]\n',
    'input = [4, 4, 1]\n[[layer]]\nkind = "pool"\nsize = 2\nmode = ["max"]\n',
    'input = [4, 4, true]\n[[layer]]\nkind = "flatten"\n',
    'input = [4, 4, 1.5]\n[[layer]]\nkind = "flatten"\n',
    'input = [4, 4, 1]\nlayer = [1, 2]\n',
    'input = [4, 4, 1]\nloss = 3\n[[layer]]\nkind = "flatten"\n[[layer]]\nkind = "dense"\nunits = 2\n',
    'input = [4, 4, 1]\nexamples = 100000\n[[layer]]\nkind = "flatten"\n[[layer]]\nkind = "dense"\nunits = 2\n',
    'input = [4, 4, 99999999999999999999]\n[[layer]]\nkind = "flatten"\n',
    'input = [4, 4, 1]\n' + '[[layer]]\nkind = "pool"\nsize = 1\n' * 100,
    'input = [4, 4, 1]\nlayers = 3\n',
])
def test_hostile_specs_are_clear_errors(text):
    with pytest.raises((SpecError, ResourceLimit)) as info:
        load_cnn(text, where="net.toml")
    assert str(info.value).startswith("net.toml: "), info.value


def test_a_spec_asking_for_large_tensors_is_refused_before_any_work():
    text = 'input = [512, 512, 3]\n[[layer]]\nkind = "conv2d"\nfilters = 64\nsize = 3\n'
    with pytest.raises(ResourceLimit, match=r"layer 1 \(conv2d\).*conv\.entries"):
        load_cnn(text)


@pytest.mark.parametrize("kind", ["conv2d", "pool", "flatten"])
def test_a_cnn_layer_in_a_dense_network_says_where_it_belongs(kind):
    from derive.engine.backward import derive
    from derive.network.spec import Network
    with pytest.raises(SpecError, match=rf"layer 1 \({kind}\): a {kind} layer belongs to a CNN spec"):
        derive(Network(layers=[3, 3, 1], kinds=[kind, "dense"]))
    with pytest.raises(SpecError, match=rf"a {kind} layer belongs to a CNN spec"):
        Network.from_mapping({"inputs": 3, "layer": [{"kind": kind}, {"units": 1}]})


def test_the_family_of_a_spec():
    assert spec_family({"layers": [3, 3, 1]}) == "dense"
    assert spec_family({"inputs": 3, "layer": [{"kind": "dense", "units": 2}]}) == "dense"
    assert spec_family({"input": [6, 6, 2], "layer": []}) == "cnn"
    assert spec_family({"inputs": 3, "layer": [{"kind": "pool"}]}) == "cnn"
    assert spec_family({"rnn": {"input": 3}}) == "rnn"


# -- the CLI ------------------------------------------------------------------------------------------
def test_cli_text_latex_json(tmp_path, capsys):
    spec = tmp_path / "cnn.toml"
    spec.write_text(EXAMPLE, encoding="utf-8")
    assert main(["backward", "--spec", str(spec), "--steps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CNN: input 6×6×2 per example; conv2d(3 filters 3×3, stride 2, pad 1, relu)")
    assert "Proof: all proven — 12 formulas" in out and "the course's loop form:" in out
    assert main(["backward", "--spec", str(spec), "--format", "latex"]) == 0
    tex = capsys.readouterr().out
    assert r"dW^{[1]} &= \frac{1}{m}\, \operatorname{corr}^{W}_{s=2}" in tex and r"\end{align*}" in tex
    assert main(["backward", "--spec", str(spec), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["family"] == "cnn" and data["proof"]["passed"] is True
    assert [s["rule"] for s in data["steps"]][-4:] == [
        "conv_activation_chain", "conv_weight_gradient", "conv_bias_gradient", "conv_input_gradient"]


def test_the_example_file_is_the_built_in_example():
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "examples" / "cnn.toml"
    assert path.read_text(encoding="utf-8") == EXAMPLE


def test_cli_example_and_errors(tmp_path, capsys):
    assert main(["backward", "--example", "cnn", "--print-spec"]) == 0
    assert load_cnn(capsys.readouterr().out) == load_cnn(EXAMPLE)
    assert main(["backward", "--example", "cnn"]) == 0
    assert "built-in example" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = "two"\nsize = 3\n',
                   encoding="utf-8")
    assert main(["backward", "--spec", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: layer 1 (conv2d): key 'filters': 'two' is not a whole number" in err


def test_the_oracle_agrees_with_the_proven_example(proven):
    """One more witness beside the proofs: the printed formulas' numbers are autograd's."""
    from derive.conv.numbers import conv_backward
    rng = np.random.default_rng(11)
    layer = proven.cnn.layer(1)
    A = rng.normal(size=(2, *layer.in_shape))
    W = rng.normal(size=(layer.size, layer.size, layer.in_shape[2], layer.filters))
    b = rng.normal(size=(1, 1, 1, layer.filters))
    dZ = rng.normal(size=(2, *layer.out_shape))
    for x, y in zip(conv_backward(dZ, A, W, b, stride=2, pad=1),
                    oracle.conv_gradients(dZ, A, W, b, stride=2, pad=1), strict=True):
        np.testing.assert_allclose(x, np.reshape(y, x.shape), rtol=1e-10, atol=1e-12)


def test_the_bias_loop_reads_no_window(proven):
    """db sums dZ over i, h, w: its loop computes no window corners it would never use."""
    loop = proven.step("db", 1).loop
    assert "vert_start" not in loop and "db[:, :, :, c] += dZ[i, h, w, c]" in loop
    assert "vert_start = h * 2" in proven.step("dW", 1).loop


def test_a_wide_max_pool_is_proven_in_seconds():
    """The course's own model pools 8×8 and 4×4 windows: SymPy's derivative of a symbolic Max of
    16 or 64 entries took minutes (derive backward on a 64×64×3 spec never finished); the other
    entries are put at their rational point first, so Max(x, r₁, …) is Max(x, r) when derived."""
    import time

    text = ('input = [9, 9, 2]\n[[layer]]\nkind = "pool"\nsize = 4\nstride = 4\n'
            '[[layer]]\nkind = "flatten"\n[[layer]]\nkind = "dense"\nunits = 2\nactivation = "softmax"\n')
    start = time.perf_counter()
    d = derive_cnn(load_cnn(text), prove=True)
    assert d.proof.passed and d.step("dA", 0).proof.elementwise == "exact"
    assert time.perf_counter() - start < 20


def test_no_crop_is_printed_where_there_is_no_padding():
    """pad 0: the full convolution already has the input's size, so dX prints without crop(…, 0);
    at pad 1 the crop is printed, with its pad."""
    from tests.cnn_specs import small_cnn

    def dX(text):
        d = derive_cnn(load_cnn(text), prove=False)
        step = next(s for s in d.steps if s.rule == "conv_input_gradient")
        return step.expr.to_text(), step.expr.to_latex()

    text, latex = dX(small_cnn(pad=0, stride=1))
    assert text == "fullconv(dZ[1], W[1])" and "crop" not in latex
    text, latex = dX(small_cnn(pad=1, stride=2))
    assert text == "crop(fullconv(dilate(dZ[1], 2), W[1]), 1)" and r"\operatorname{crop}_{1}" in latex


@pytest.mark.parametrize("shape, f, s, p", [((4, 4), 2, 1, 3), ((5, 7), 2, 2, 2), ((4, 6), 3, 3, 4)])
def test_pad_at_least_f_names_the_rows_that_read_only_padding(shape, f, s, p):
    """The note's rows and columns are those where the oracle's Z does not depend on X (its
    forward pass on X = 0 and on X = 1 agree there, and only there)."""
    from tests.cnn_specs import small_cnn
    from tests.oracle_conv import conv_forward

    text = small_cnn(input_=(*shape, 1), stride=s, pad=p).replace("size = 3\n", f"size = {f}\n", 1)
    note = next(n for n in derive_cnn(load_cnn(text), prove=False).notes if "read only padding" in n)
    W, b = np.ones((f, f, 1, 1)), np.zeros((1, 1, 1, 1))
    same = (conv_forward(np.zeros((1, *shape, 1)), W, b, stride=s, pad=p)
            == conv_forward(np.ones((1, *shape, 1)), W, b, stride=s, pad=p))[0, :, :, 0]
    rows = [r for r in range(same.shape[0]) if same[r].all()]
    cols = [c for c in range(same.shape[1]) if same[:, c].all()]
    want = (f"rows and columns {', '.join(map(str, rows))}" if rows == cols else
            f"rows {', '.join(map(str, rows))} and columns {', '.join(map(str, cols))}")
    assert f"pad {p} ≥ f = {f}, so {want} of Z[1] (0-based) read only padding" in note


@pytest.mark.parametrize("text, message", [
    ('loss = "ce"\n[[layer]]\nkind = "flatten"\n', "key 'input' is missing: give [n_H, n_W, n_C]"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nsize = 2\n',
     "layer 1 (conv2d): key 'filters' is missing: give a whole number ≥ 1"),
    ('input = [4, 4, 1]\n[[layer]]\nsize = 2\n', "layer 1: key 'kind' is missing"),
    ('input = [4, 4, 1]\n[[layer]]\nkind = "conv2d"\nfilters = 1\nsize = true\n',
     "key 'size': true is not a whole number"),
])
def test_a_missing_or_mistyped_key_is_named_as_the_file_writes_it(text, message):
    """No Python None or True in a spec's errors: a key left out is 'missing', a TOML true is true."""
    with pytest.raises(SpecError) as err:
        load_cnn(text)
    assert message in str(err.value) and "None" not in str(err.value) and "True" not in str(err.value)
