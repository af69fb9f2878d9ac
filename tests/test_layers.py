"""The layer registry: a new layer type is one module (here: this test) plus its catalogue entry.

``Triple`` is a fixed scaling layer, A[l] = 3 A[l-1], written below exactly as a module in
derive/layers/ would be, with the identity it cites (the entry rules/identities.toml would hold).
Registering it is all it takes for the derivation, both proofs, the forward model, random
instances, the symbol table, the TOML sequence spec and the CLI to handle it. The gradients are
checked against autograd (tests/oracle.py's stand-ins, not the engine's formulas).
"""

from __future__ import annotations

import re
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

import derive
from derive import layers
from derive.catalogue import rules
from derive.cli import main
from derive.core import expr as E
from derive.engine.backward import derive as run
from derive.engine.values import gradient_values
from derive.errors import ProofFailure, SpecError
from derive.layers.base import LayerType, Local, Upstream
from derive.network import model
from derive.network.spec import Network
from derive.network.symbols import SymbolTable
from derive.parse.names import gradients, quantities
from tests.oracle import PER_UNIT, activation

FACTOR = 3


class Triple(LayerType):
    """A[l] = 3 A[l-1]: no parameters; its backward rule is dA[l-1] = 3 dA[l]."""

    kind = "triple"
    title = "fixed scaling: A = 3 A[l-1]"
    values = ("A",)
    cites = ("fixed_scaling",)
    identities = {"fixed_scaling": rules.Identity(
        name="fixed_scaling", title="gradient through a fixed scaling", convention="any",
        index="A[{l}]ᵢₜ = 3 A[{p}]ᵢₜ ⇒ dA[{p}]ᵢₜ = 3 dA[{l}]ᵢₜ",
        index_latex=r"A^{[{l}]}_{it} = 3 A^{[{p}]}_{it} \Rightarrow dA^{[{p}]}_{it} = 3\, dA^{[{l}]}_{it}",
        source="scalar chain rule, entry by entry")}
    factor = FACTOR

    def forward(self, net, l, sym):
        return ((sym("A", l), E.Scale(self.factor, sym("A", l - 1))),)

    def backward(self, walk, l, upstream):
        if l == 1:
            return None
        expr = E.Scale(FACTOR, walk.sym("dA", l))  # the rule, beside the forward it differentiates
        local = Local(("A", l - 1), self.forward(walk.net, l, walk.sym), ("A", l), (("A", l - 1),),
                      f"Σ dA[{l}] ⊙ A[{l}]", forward_text=f"3 A[{l - 1}]")
        walk.step(l, walk.sym("dA", l - 1), expr, "fixed_scaling")
        walk.emit(l - 1, "dA", expr, local)
        return Upstream(expr, local)


class WrongTriple(Triple):
    """The same forward map with a wrong backward rule (2 instead of 3): the proofs must fail."""

    kind = "wrong_triple"

    def backward(self, walk, l, upstream):
        out = super().backward(walk, l, upstream)
        f = walk.formulas[-1]
        walk.formulas[-1] = type(f)(f.layer, f.target, E.Scale(2, walk.sym("dA", l)), f.kind, f.local)
        return out


@pytest.fixture(autouse=True)
def registered():
    layers.register(Triple())
    layers.register(WrongTriple())
    yield
    layers.unregister("triple")
    layers.unregister("wrong_triple")


def net(kind="triple", convention="columns", acts=("relu", None, "sigmoid"), loss="bce"):
    return Network(layers=[3, 4, 4, 1], activations=acts, loss=loss, convention=convention,
                   kinds=("dense", kind, "dense"))


@pytest.mark.parametrize("convention", ["columns", "rows"])
def test_a_new_layer_type_is_derived_and_proven(convention):
    d = run(net(convention=convention))  # proves both ways; raises ProofFailure otherwise
    assert d.proof.passed
    names = [f.name for f in d.formulas]
    assert names == ["dA[3]", "dZ[3]", "dW[3]", "db[3]", "dA[2]", "dA[1]", "dZ[1]", "dW[1]", "db[1]"]
    assert d.formula("dA", 1).text == "dA[1] = 3 dA[2]"
    assert d.formula("dZ", 1).text == "dZ[1] = 3 dA[2] ⊙ relu′(Z[1])"
    assert d.proof.formulas[5].method == "SymPy ∂/∂A[1] of Σ dA[2] ⊙ A[2]"
    assert d.proof.formulas[6].method == "SymPy ∂/∂Z[1] of Σ dA[2] ⊙ (3 g(Z[1]))"
    step = [s for s in d.steps if s.rule == "fixed_scaling"][0]
    assert step.index == "A[2]ᵢₜ = 3 A[1]ᵢₜ ⇒ dA[1]ᵢₜ = 3 dA[2]ᵢₜ"


def test_a_wrong_rule_fails_both_proofs():
    with pytest.raises(ProofFailure, match=r"dA\[1\]: element-wise failed, fd error"):
        run(net(kind="wrong_triple"))


def _autograd_cost(columns, X, Y):
    relu, sigmoid = activation("relu", 1, columns), activation("sigmoid", 3, columns)

    def cost(p):
        Z1 = (anp.dot(p["W1"], X) if columns else anp.dot(X, p["W1"])) + p["b1"]
        A2 = FACTOR * relu(Z1)
        Z3 = (anp.dot(p["W3"], A2) if columns else anp.dot(A2, p["W3"])) + p["b3"]
        A3 = sigmoid(Z3)
        return anp.sum(PER_UNIT["bce"](A3, Y)) / (X.shape[1] if columns else X.shape[0])

    return cost


@pytest.mark.parametrize("convention", ["columns", "rows"])
def test_gradients_agree_with_autograd(convention):
    network = net(convention=convention)
    inst = model.random_instance(network, seed=3, m=5)
    values = gradient_values(run(network, prove=False), inst)
    params = {f"{b}{l}": inst.params[b, l] for b in ("W", "b") for l in (1, 3)}
    want = grad(_autograd_cost(convention == "columns", inst.X, inst.Y))(params)
    for key, g in want.items():
        np.testing.assert_allclose(values[f"d{key[0]}", int(key[1])], g, rtol=1e-10, atol=1e-12)


def test_the_model_folds_its_definitions():
    network = net()
    inst = model.random_instance(network, seed=0)
    cache = model.forward(network, inst.params, inst.X)
    np.testing.assert_array_equal(cache["A", 2], FACTOR * cache["A", 1])
    assert ("W", 2) not in inst.params and ("W", 3) in inst.params


def test_symbols_come_from_the_layer_types():
    T = SymbolTable(net())
    assert T["dA", 2].shape == (4, derive.network.spec.m)
    with pytest.raises(KeyError, match=r"layer 2 \(triple\) has no W"):
        T["W", 2]


def test_the_sequence_spec_and_the_cli(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text('inputs = 3\nloss = "bce"\n'
                    '[[layer]]\nkind = "dense"\nunits = 4\nactivation = "relu"\n'
                    '[[layer]]\nkind = "triple"\n'
                    '[[layer]]\nunits = 1\nactivation = "sigmoid"\n', encoding="utf-8")
    assert Network.from_toml(spec) == net()
    assert main(["backward", "--spec", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "layers dense, triple, dense; sizes 3,4,4,1" in out
    assert "dA[1] = 3 dA[2]" in out and "Proof: all proven — 9 formulas" in out


def test_a_layer_table_names_its_mistakes(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('inputs = 3\n[[layer]]\nkind = "triple"\nunits = 2\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"layer 1 \(triple\): unknown key 'units'; known: kind"):
        Network.from_toml(bad)
    bad.write_text('inputs = 3\n[[layer]]\nkind = "conv"\n', encoding="utf-8")
    known = "batchnorm, conv2d, dense, flatten, pool, triple, wrong_triple"
    with pytest.raises(SpecError, match=rf"unknown layer kind 'conv'; known: {known}"):
        Network.from_toml(bad)


def test_a_kind_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        layers.register(Triple())


def test_every_registered_layer_cites_identities_that_exist():
    catalogue = rules.identities()
    for kind, t in layers.REGISTRY.items():
        for layout in ("columns", "rows"):
            for cite in t.cites:
                name = Network(depth=1, convention=layout).layout.identity(cite)
                found = t.identities.get(cite) or catalogue.get(name) or catalogue.get(cite)
                assert found is not None, (kind, layout, cite)
                assert found.convention in ("any", layout), (kind, layout, cite, found.convention)


def test_rules_lists_the_layer_kinds(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "## Layer kinds" in out
    assert "| `dense` | affine map and an element-wise (or softmax) activation" in out
    assert "| `triple` | fixed scaling: A = 3 A[l-1] | kind | — | A | `fixed_scaling` |" in out


def test_dense_sequence_spec_is_the_flags_network(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text('inputs = 3\nloss = "bce"\nconvention = "rows"\n'
                    '[[layer]]\nkind = "dense"\nunits = 3\nactivation = "relu"\n'
                    '[[layer]]\nkind = "dense"\nunits = 1\nactivation = "sigmoid"\n', encoding="utf-8")
    flags = Network.from_strings("3,3,1", "relu,sigmoid", "bce", "rows")
    assert Network.from_toml(spec) == flags
    assert Network.from_toml(spec).kinds == ("dense", "dense")
    assert str(run(Network.from_toml(spec), prove=False)) == str(run(flags, prove=False))


@pytest.mark.parametrize("text, message", [
    ('[[layer]]\nkind = "dense"\nactivation = "relu"\n', r"layer 1: a dense layer needs units"),
    ('[[layer]]\nunits = 2\nactivation = "relu"\nfoo = 1\n',
     r"layer 1 \(dense\): unknown key 'foo'; known: kind, units, activation"),
    ('layers = "3,2"\n[[layer]]\nunits = 2\n', r"unknown key 'layers' beside \[\[layer\]\] tables"),
    ('layer = 3\n', r"give each layer as a \[\[layer\]\] table"),
    ('[[layer]]\nkind = 3\nunits = 2\n', r"layer 1: kind is a name such as \"dense\", not 3"),
    ('[[layer]]\nunits = 2\nactivation = "swoosh"\n', r"swoosh"),
    ('[[layer]]\nunits = 0\n', r"layer size n1 is 0"),
])
def test_sequence_spec_errors_name_the_layer(tmp_path, text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text("inputs = 3\n" + text, encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        Network.from_toml(spec)


def test_the_spec_page_sequence_example(tmp_path):
    """docs/spec.md's [[layer]] example is the network it says it is, and its error is real."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "spec.md").read_text(encoding="utf-8")
    block = page.split("## Layers as a sequence", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "seq.toml"
    spec.write_text(block, encoding="utf-8")
    assert Network.from_toml(spec) == Network(layers=[4, 5, 3], activations=["tanh", "softmax"],
                                              loss="ce", convention="rows")
    spec.write_text(block.replace("units = 3", "unit = 3"), encoding="utf-8")
    message = "layer 2 (dense): unknown key 'unit'; known: kind, units, activation"
    assert message in page
    with pytest.raises(SpecError, match=re.escape(message)):
        Network.from_toml(spec)


class Hold(LayerType):
    """A layer type with a quantity of its own, H, to see the vocabulary follow the registry."""

    kind = "hold"
    title = "H = A[l-1], A = H"
    values = ("H", "A")


def test_the_vocabulary_follows_the_registry():
    assert "H" not in quantities()
    layers.register(Hold())
    try:
        assert {"H", "dH"} <= set(quantities()) and "dH" in gradients()
        T = SymbolTable(Network(layers=[2, 2, 1], kinds=("dense", "hold")))
        assert T["dH", 2].shape == T["A", 2].shape
        with pytest.raises(KeyError, match=r"layer 1 \(dense\) has no H"):
            T["H", 1]
    finally:
        layers.unregister("hold")
    assert "H" not in quantities()


def test_a_spec_that_is_not_utf8_is_a_spec_error(tmp_path, capsys):
    spec = tmp_path / "latin1.toml"
    spec.write_bytes('inputs = 3  # größe\n'.encode("latin-1"))
    with pytest.raises(SpecError, match=r"not UTF-8 text \(byte 17 is 0xf6\); save the spec as UTF-8"):
        Network.from_toml(spec)
    assert main(["backward", "--spec", str(spec)]) == 2
    assert "Error:" in capsys.readouterr().err
