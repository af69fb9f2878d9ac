"""Every step's element-wise statement (an identity of rules/identities.toml, filled for the step's
layer and network) is true for the formula printed beside it: the factor of dW, db, dγ, dβ is the
network's scale, a bias-free (batch-normalised) layer's statements name no b, the mask D appears
exactly where the layer has dropout, and a batch-normalised layer's activation statements name Z̃.

The expectations come from the network's own spec (its scale, which layers drop units or are
normalised), not from the statements; the statements are read as printed (text and LaTeX)."""

from __future__ import annotations

import re

import pytest

from derive.engine.backward import Derivation, Step, derive
from derive.network.spec import Network

LAYERS, ACTS = [3, 4, 3, 1], ["relu", "tanh", "sigmoid"]
ARCHS = {
    "dense": {},
    "l2": {"l2": 0.1},
    "dropout": {"keep_prob": 0.8},
    "batchnorm": {"batchnorm": [1, 2]},
    "batchnorm+dropout": {"batchnorm": [1, 2], "keep_prob": 0.8},
}
PARAMETER_RULES = ("weight_gradient", "weight_gradient_rows", "bias_gradient", "bias_gradient_rows",
                   "batchnorm_gamma", "batchnorm_beta")
CASES = [(a, s, c) for a in ARCHS for s in ("mean", "sum", "dZ") for c in ("columns", "rows")]


def _derivation(arch: str, scale: str, convention: str) -> Derivation:
    net = Network(layers=LAYERS, activations=ACTS, loss="bce", scale=scale,
                  convention=convention, **ARCHS[arch])
    return derive(net, prove=False)


def _rhs(s: Step, latex: bool) -> str:
    """The step's formula right of its ``=`` (the target, e.g. dZ̃[1], left out)."""
    return (s.latex if latex else s.text).split(" = ", 1)[1]


@pytest.mark.parametrize(("arch", "scale", "convention"), CASES)
def test_statements_match_their_formulas(arch, scale, convention):
    d = _derivation(arch, scale, convention)
    net = d.network
    assert d.steps
    for s in d.steps:
        l, kind = s.layer, net.kinds[s.layer - 1]
        where = f"{arch}/{scale}/{convention} layer {l} step {s.rule}: {s.index}"
        for stmt in (s.title, s.index, s.index_latex):  # every placeholder filled, no bare s
            assert not re.search(r"\{(l|p|n|s|l2|bias|\+bias|pre|mask)\}", stmt), where
            assert " = s Σ" not in stmt and r" = s \sum" not in stmt, where
        # the factor: 1/m under scale mean only, as in the formula itself
        if s.rule in PARAMETER_RULES:
            mean = scale == "mean"
            assert ("(1/m) Σ" in s.index) == mean == ("(1/m)" in s.text), where
            assert (r"\frac{1}{m} \sum" in s.index_latex) == mean == (r"\frac{1}{m}" in s.latex), where
            assert ("data term" in s.index) == (s.rule.startswith("weight") and net.regularised(l)), where
        # a batch-normalised layer has no b: no statement of it names one
        if kind == "batchnorm":
            assert f"b[{l}]" not in s.index and f"b^{{[{l}]}}" not in s.index_latex, where
        elif s.rule.startswith("weight_gradient"):
            assert f"b[{l}]" in s.index and f"b^{{[{l}]}}" in s.index_latex, where
        # the mask: named in the statement exactly where the formula has it
        assert ("D[" in s.index) == ("D[" in _rhs(s, False)), where
        assert ("D^{[" in s.index_latex) == ("D^{[" in _rhs(s, True)), where
        if s.rule.startswith(("substitution", "dropout_mask")):
            assert ("D[" in s.index) == (net.dropout(l) is not None), where
        # the pre-activation: Z̃ under batch norm, Z otherwise, as the formula has it
        if "g′(" in s.index and s.target.base in ("dZ", "dZtilde"):
            assert ("g′(Z̃" in s.index) == (kind == "batchnorm") == ("Z̃" in s.text), where
            assert (r"(\tilde{Z}" in s.index_latex) == (kind == "batchnorm"), where
        if kind == "batchnorm":
            assert f"g(Z[{l}]" not in s.index and f"g′(Z[{l}]" not in s.index, where


def test_each_layer_cites_what_it_declares_and_its_titles_fit():
    """The rules the steps cite are the ones each layer type declares (``cites``), and a title
    that writes the affine map writes this layer's: Z = W A on a batch-normalised layer."""
    from derive import layers

    seen: dict[str, set[str]] = {}
    for arch, scale, convention in CASES:
        d = _derivation(arch, scale, convention)
        for s in d.steps:
            kind = d.network.kinds[s.layer - 1]
            seen.setdefault(kind, set()).add(s.rule.removesuffix("_rows"))
            if s.rule.startswith("weight_gradient"):
                assert ("+ b" in s.title) == (kind == "dense"), (arch, s.layer, s.title)
            for text in (s.title, s.index, s.index_latex):
                assert "{" not in text.replace("{0, 1}", "") or "\\" in text or "^{" in text, text
    for kind, rules_ in seen.items():
        declared = set(layers.REGISTRY[kind].cites) | {"loss_gradient"}
        assert rules_ <= declared, (kind, rules_ - declared)
    assert {"substitution", "dropout_mask", "weight_gradient", "batchnorm_gamma"} <= seen["batchnorm"]
    assert {"substitution", "dropout_mask", "weight_gradient", "bias_gradient"} <= seen["dense"]
