"""Every LaTeX example of issue 13 ("Textbook and lecture LaTeX"), with its right verdict.

Each example is the issue's formula (or, where the issue writes ``= …``, that formula completed
with the course's right side), checked on a network of this file. A correct one is also
evaluated (derive's reading, numpy) and compared with autograd's gradient (tests/oracle.py,
through tests/test_parse_textbook.agrees); each has a planted-mistake twin that must not be
called correct.
"""

from __future__ import annotations

import pytest

from derive.check.checker import check
from derive.network.spec import Network
from tests.test_parse_textbook import agrees

SIG = Network(layers=[4, 3, 5, 2], activations=["sigmoid", "sigmoid", "sigmoid"], loss="bce")
SIG_ONE = SIG.replace(scale="sum")  # one example's cost (Nielsen's C), summed over examples
TWO = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce")
TWO_ONE = TWO.replace(scale="sum")
NG = SIG.replace(l2=0.1, l2_form="half")  # J = (1/m) Σ ℓ + (λ/2) Σ Θ²: D = Δ/m + λΘ

EXAMPLES = [  # (issue's formula, network, layer, its planted-mistake twin)
    (r"\delta^{(l)} = ((W^{(l+1)})^T \delta^{(l+1)}) \odot \sigma'(z^{(l)})", SIG, 1,
     r"\delta^{(l)} = (\delta^{(l+1)} (W^{(l+1)})^T) \odot \sigma'(z^{(l)})"),
    (r"\delta^L = \nabla_a C \odot \sigma'(z^L)", SIG_ONE, 3,
     r"\delta^L = \nabla_a C \odot \sigma(z^L)"),
    (r"dZ^{(1)} = (W^{(2)})^T dZ^{(2)} \odot \sigma'(Z^{(1)})", SIG, 1,
     r"dZ^{(1)} = W^{(2)} dZ^{(2)} \odot \sigma'(Z^{(1)})"),
    (r"\nabla_{W^{[1]}} J = \frac{1}{m} dZ^{[1]} X^T", SIG, 1,
     r"\nabla_{W^{[1]}} J = dZ^{[1]} X^T"),
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", SIG_ONE, 2,
     r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_j \delta^l_k"),
    (r"dW^{[1]} = \frac{1}{m} \sum_{i=1}^{m} dZ^{[1](i)} x^{(i)T}", SIG, 1,
     r"dW^{[1]} = \sum_{i=1}^{m} dZ^{[1](i)} x^{(i)T}"),
    (r"dZ^{[2]} = \frac{\partial \mathcal{L}}{\partial Z^{[2]}} = A^{[2]} - Y", TWO, 2,
     r"dZ^{[2]} = \frac{\partial \mathcal{L}}{\partial Z^{[2]}} = Y - A^{[2]}"),
    # Ng's course: Θ, the accumulator Δ, D (with the cost's (λ/2) Σ Θ²)
    (r"D^{(l)} = \frac{1}{m}\Delta^{(l)} + \lambda\Theta^{(l)}", NG, 2,
     r"D^{(l)} = \Delta^{(l)} + \lambda\Theta^{(l)}"),
    (r"\delta^{(3)} = (\Theta^{(3)})^T \delta^{(4)} \ast g'(z^{(3)})", SIG, 2,
     r"\delta^{(3)} = \Theta^{(3)} \delta^{(4)} \ast g'(z^{(3)})"),
    # named output layers, targets T and t, \hat
    (r"dZ^{O} = A^{O} - Y", TWO, 2, r"dZ^{O} = A^{O} + Y"),
    (r"dZ^{out} = \hat{y} - Y", TWO, 2, r"dZ^{out} = \hat{y}"),
    (r"dZ^{[2]} = A^{[2]} - T", TWO, 2, r"dZ^{[2]} = T - A^{[2]}"),
    (r"dZ^{[2]} = \hat{Y} - t", TWO, 2, r"dZ^{[2]} = \hat{Y} - t - t"),
    # decorations
    (r"\boldsymbol{\delta}^{[1]} = \mathbf{W}^{[2]T} \bm{\delta}^{[2]} \odot "
     r"g'(\mathbf{Z}^{[1]})", TWO, 1,
     r"\boldsymbol{\delta}^{[1]} = \mathbf{W}^{[2]T} \bm{\delta}^{[2]} \odot g(\mathbf{Z}^{[1]})"),
    (r"db^{[1]} = \frac{1}{m} \operatorname{np.sum}(dZ^{[1]}, \operatorname{axis}=1, "
     r"\operatorname{keepdims}=\operatorname{True})", TWO, 1,
     r"db^{[1]} = \frac{1}{m} \operatorname{np.sum}(dZ^{[1]}, \operatorname{axis}=0, "
     r"\operatorname{keepdims}=\operatorname{True})"),
    # costs with their arguments or other names
    (r"\frac{\partial J(\mathbf{w}, b)}{\partial W^{[2]}} = \frac{1}{m} dZ^{[2]} A^{[1]T}", TWO, 2,
     r"\frac{\partial J(\mathbf{w}, b)}{\partial W^{[2]}} = \frac{1}{m} A^{[1]} dZ^{[2]T}"),
    (r"\frac{\partial \mathcal{L}(\hat y, y)}{\partial Z^{[2]}} = \hat{y} - y", TWO, 2,
     r"\frac{\partial \mathcal{L}(\hat y, y)}{\partial Z^{[2]}} = y - \hat{y}"),
    (r"\frac{\partial C_0}{\partial Z^{[2]}} = A^{[2]} - Y", TWO, 2,
     r"\frac{\partial C_0}{\partial Z^{[2]}} = A^{[2]}"),
    (r"\frac{\partial E}{\partial W^{[2]}} = \frac{1}{m} dZ^{[2]} A^{[1]T}", TWO, 2,
     r"\frac{\partial E}{\partial W^{[2]}} = \frac{1}{m} dZ^{[2]} A^{[2]T}"),
    # a postfix prime, zero-based layers, n or N for m
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]}(Z^{[1]})'", TWO, 1,
     r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]}(Z^{[1]})"),
    (r"\delta_0 = W_1^T \delta_1 \odot g'(z_0)", TWO_ONE, 1,
     r"\delta_0 = W_0^T \delta_1 \odot g'(z_0)"),
    (r"dW^{[1]} = \frac{1}{N} dZ^{[1]} X^T", TWO, 1, r"dW^{[1]} = \frac{1}{N} dZ^{[1]} X"),
    (r"dW^{[2]} = \frac{1}{n} dZ^{[2]} A^{[1]T}", TWO, 2, r"dW^{[2]} = n dZ^{[2]} A^{[1]T}"),
]


@pytest.mark.parametrize("text,net,layer,twin", EXAMPLES)
def test_the_issue_example_is_correct_and_agrees_with_autograd(text, net, layer, twin):
    v = check(text, net, layer=layer)
    assert v.verdict == "correct", v.message
    if "=" not in text.split("=", 1)[1]:  # one equation (a chain's links are checked alone)
        assert agrees(text, net, layer)


@pytest.mark.parametrize("text,net,layer,twin", EXAMPLES)
def test_its_planted_mistake_is_not_correct(text, net, layer, twin):
    v = check(twin, net, layer=layer)
    assert v.verdict in ("not_equivalent", "shape_error"), (twin, v.message)


def test_a_where_clause_defines_its_name():
    text = r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot s, \text{where } s = 1 - (A^{[1]})^2"
    assert check(text, TWO).verdict == "correct"
    wrong = r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot s, \text{where } s = A^{[1]}"
    assert check(wrong, TWO).verdict == "not_equivalent"


def test_conditions_are_stated_for_readings_that_need_them():
    v = check(r"\delta^{(3)} = (\Theta^{(3)})^T \delta^{(4)} \ast g'(z^{(3)})", SIG, layer=2)
    said = [*v.notes, *getattr(v, "conditions", ())]
    assert any("bias column" in n for n in said), said
    assert any("counted from the input" in n for n in v.notes), v.notes


# issue 11 in LaTeX: batch normalisation's names, read on a network with batch norm
BN = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", batchnorm=[1])
BN_FORMULAS = [  # our own, from the batch-norm derivation (derive backward --batchnorm 1)
    (r"d\gamma^{[1]} = \frac{1}{m} \sum_{i=1}^{m} (d\tilde{Z}^{[1]} \odot \hat{z}^{[1]})^{(i)}",
     "dγ[1]"),
    (r"\frac{\partial J}{\partial \beta^{[1]}} = \frac{1}{m} \sum_{i=1}^{m} d\tilde{Z}^{[1](i)}",
     "dβ[1]"),
    (r"dZ_{norm}^{[1]} = d\tilde{Z}^{[1]} \odot \gamma^{[1]}", "dZ_norm[1]"),
    (r"d\hat{x}^{[1]} = \gamma^{[1]} \odot d\tilde{Z}^{[1]}", "dZ_norm[1]"),
    (r"dZ^{[1]} = \frac{1}{m} \frac{\gamma^{[1]}}{\sqrt{(\sigma^{[1]})^2 + \varepsilon}} \odot "
     r"\left(m\, d\tilde{Z}^{[1]} - \sum_{i=1}^{m} d\tilde{Z}^{[1](i)} - \hat{Z}^{[1]} \odot "
     r"\sum_{i=1}^{m} (d\tilde{Z}^{[1]} \odot \hat{Z}^{[1]})^{(i)}\right)", "dZ[1]"),
    (r"d\mu^{[1]} = -\sum_{i=1}^{m} \frac{dZ_{\text{norm}}^{[1](i)}}{\sqrt{\sigma^2 + \epsilon}} "
     r"+ d(\sigma^{[1]})^{2} \odot \frac{-2}{m} \sum_{i=1}^{m} (Z^{[1]} - \mu^{[1]})^{(i)}", "dμ[1]"),
]


@pytest.mark.parametrize("text, target", BN_FORMULAS)
def test_batch_norms_latex_names(text, target):
    v = check(text, BN)
    assert (v.verdict, v.target) == ("correct", target), v.message
    # the planted mistake: γ dropped (or the sign of the mean's term flipped)
    twin = text.replace(r"\gamma^{[1]}", "1") if r"\gamma" in text else text.replace(
        r"= -\sum", r"= \sum").replace(r"\frac{1}{m} \sum", r"\sum")
    assert check(twin, BN).verdict != "correct", twin


def test_batch_norms_names_on_a_network_without_it_say_so():
    v = check(r"dZ^{[1]} = d\tilde{Z}^{[1]} \odot \gamma^{[1]}", TWO)
    assert v.verdict == "parse_error" and "pass --batchnorm" in v.message
    # without batch norm \hat{y} is still the prediction, σ the sigmoid
    assert check(r"dZ^{[2]} = \hat{y} - y", TWO).verdict == "correct"


def test_every_line_of_derives_own_batch_norm_latex_reads_back_correct(capsys):
    from derive.cli import main
    assert main(["backward", "--layers", "4,5,3", "--act", "relu,softmax", "--loss", "ce",
                 "--batchnorm", "1", "--format", "latex"]) == 0
    lines = [ln.strip().removesuffix("\\\\").replace("&=", "=")
             for ln in capsys.readouterr().out.splitlines() if "&=" in ln]
    assert len(lines) >= 12
    for line in lines:
        v = check(line, BN)
        assert v.verdict == "correct", (line, v.message)
