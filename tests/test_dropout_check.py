"""derive check with dropout (issue 11): D1, D[1], G and dG read as the network's quantities,
correct formulas in the course's and CS231n's dialects called correct, the three dropout mistakes
named with a fix the checker then calls correct (and that autograd agrees with), and the real
formulas of the regularisation corpus (tests/data/corpus/regularisation) given their labels.

The expected values come from autograd of the forward pass in tests/oracle.py (masks applied
there), never from derive's formulas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import derive
from derive.core.expr import evaluate
from derive.engine.values import gradient_values
from derive.network.model import numpy_backend, random_instance
from derive.parse import parse_equation
from tests import oracle

COURSE = derive.Network(layers=[4, 5, 3, 2], activations=["relu", "relu", "sigmoid"], loss="bce",
                        keep_prob=0.8)
ROWS = derive.Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                      convention="rows", scale="dZ", keep_prob=0.5)
KEEP = {"keep_prob": "0.8"}  # keep_prob bound by name (derive reads it once the parsers do)


def agrees(text: str, net, names=None) -> bool:
    """The formula's value equals autograd's gradient on a random instance with its masks."""
    eq = parse_equation(text, net, names=names)
    inst = random_instance(net, seed=5, m=6)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items() if k != "D"}
    masks = {l: v for (k, l), v in inst.params.items() if k == "D"}
    # the student's formula reads the forward values and the other gradients (dZ[l+1], ...)
    values = gradient_values(derive.backward(net, prove=False), inst)
    got = evaluate(eq.rhs, values, numpy_backend(net, inst.m, inst.sizes))
    base, layer = eq.target.key
    if base in ("dW", "db"):
        want = oracle.param_gradients(net, params, inst.X, inst.Y, masks)[f"{base[1]}{layer}"]
    else:
        scale = inst.m if net.scale == "mean" else 1
        want = scale * oracle.intermediate_gradient(net, base[1], layer, values[base[1], layer],
                                                    params, inst.X, inst.Y, masks)
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12)


CORRECT = [
    (COURSE, "dZ2 = np.multiply(np.dot(W3.T, dZ3) * D2 / keep_prob, np.int64(A2 > 0))", KEEP),
    (COURSE, "dZ2 = np.dot(W3.T, dZ3) * np.int64(A2 > 0) * D2 / 0.8", None),  # mask after g′
    (COURSE, "dZ[2] = W[3]ᵀ dZ[3] ⊙ D[2] / 0.8 ⊙ relu'(Z[2])", None),
    (COURSE, "dZ1 = dG1 * np.int64(Z1 > 0)", None),
    (COURSE, "dZ1 = np.multiply(dA1, np.int64(A1 > 0))", {"dA1": "dG[1]"}),  # the course's line
    (COURSE, "dW2 = 1./m * np.dot(dZ2, A1.T)", None),  # A1 is the masked activation
    (COURSE, "dA1 = np.dot(W2.T, dZ2)", None),
    (ROWS, "dZ1 = dZ2.dot(W2.T) * D1 / 0.5 * (Z1 > 0)", None),
    (ROWS, "dW1 = X.T.dot(dZ1)", None),
]


@pytest.mark.parametrize("net, text, names", CORRECT)
def test_correct_dropout_formulas(net, text, names):
    assert agrees(text, net, names), "the oracle disagrees: the case itself is wrong"
    v = derive.check(text, net, names=names) if names else derive.check(text, net)
    assert v.verdict == "correct", (v.message, [m.message for m in v.mistakes])


WRONG = [  # (network, formula, the mistake, what the fix must contain)
    (COURSE, "dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)", "mask_not_applied", "(1/0.8) D[1]"),
    (COURSE, "dZ2 = dA2 * np.int64(Z2 > 0)", "mask_not_applied", "(1/0.8) D[2]"),
    (ROWS, "dZ1 = dZ2.dot(W2.T) * (Z1 > 0)", "mask_not_applied", "(1/0.5) D[1]"),
    (COURSE, "dZ1 = np.dot(W2.T, dZ2) * D1 * np.int64(Z1 > 0)", "not_divided_by_keep_prob",
     "(1/0.8) D[1]"),
    (ROWS, "dZ1 = dZ2.dot(W2.T) * D1 * (Z1 > 0)", "not_divided_by_keep_prob", "(1/0.5) D[1]"),
    (COURSE, "dW1 = 1/m * np.dot(dZ1 * D1 / 0.8, X.T)", "mask_on_dZ", "dW[1] = (1/m) dZ[1] Xᵀ"),
    (COURSE, "dA1 = np.dot(W2.T, dZ2 * D2 / 0.8)", "mask_on_dZ", "dA[1] = W[2]ᵀ dZ[2]"),
    (ROWS, "db1 = np.sum(dZ1 * D1 / 0.5, axis=0, keepdims=True)", "mask_on_dZ", "sum(dZ[1], axis=0)"),
]


@pytest.mark.parametrize("net, text, code, fixed", WRONG)
def test_dropout_mistakes_are_named_and_the_fix_is_right(net, text, code, fixed):
    assert not agrees(text, net)
    v = derive.check(text, net)
    assert v.verdict in ("not_equivalent", "shape_error"), v.message
    assert [m.code for m in v.mistakes] == [code], [(m.code, m.message) for m in v.mistakes]
    assert v.fix is not None and fixed in v.fix, v.fix
    assert derive.check(v.fix, net).verdict == "correct", v.fix
    assert agrees(v.fix, net)
    assert derive.check(v.expected, net).verdict == "correct"


def test_mistake_sentences_say_why():
    v = derive.check("dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)", COURSE)
    assert "held fixed" in v.mistakes[0].message and "keep_prob = 0.8" in v.mistakes[0].message
    v = derive.check("dZ1 = np.dot(W2.T, dZ2) * D1 * np.int64(Z1 > 0)", COURSE)
    assert "not divided by keep_prob" in v.mistakes[0].message


def test_names_of_dropout_quantities():
    # D and G are upper case only (d is the gradient's prefix, g the activation); they exist
    # only where a layer has dropout
    assert derive.check("dZ1 = dG1 * np.int64(Z1 > 0)", COURSE).verdict == "correct"
    assert derive.check("dZ1 = W2^T dZ2 * g1'(Z1) * D1 / 0.8", COURSE).verdict == "correct"
    plain = derive.Network(layers=[4, 5, 2], activations=["relu", "sigmoid"], loss="bce")
    v = derive.check("dZ1 = np.dot(W2.T, dZ2) * D1 * np.int64(Z1 > 0)", plain)
    assert v.verdict == "parse_error"
    assert derive.check("dZ2 = np.dot(W3.T, dZ3) * D2", COURSE).verdict != "parse_error"


# -- the corpus: real formulas with their labels ---------------------------------------------------
CORPUS = Path(__file__).parent / "data" / "corpus" / "regularisation"
TEXT = CORPUS / "text.jsonl"


def _corpus_formulas():
    index = [json.loads(x) for x in (CORPUS / "index.jsonl").read_text(encoding="utf-8").splitlines()
             if x.strip()]
    texts = {}
    if TEXT.exists():
        texts = {r["id"]: r["text"] for r in map(json.loads, TEXT.read_text(encoding="utf-8")
                                                  .splitlines()) if r.get("text")}
    return [(i, texts.get(i["id"])) for i in index
            if i["network"].get("dropout") and i["kind"] == "formula"]


def _network(item) -> derive.Network:
    n, drop = item["network"], item["network"]["dropout"]
    sizes = n["sizes"]
    keep = [drop["keep_prob"] if l in drop["layers"] else 1 for l in range(1, len(sizes) - 1)]
    return derive.Network(layers=sizes, activations=n["activations"], loss=n["loss"],
                          convention=n["convention"], keep_prob=keep)


@pytest.mark.parametrize("item, text", _corpus_formulas(), ids=lambda x: x["id"] if isinstance(x, dict) else "")
def test_corpus_dropout_formulas_get_their_label(item, text):
    if text is None:
        pytest.skip("the corpus texts are not here (never committed)")
    net = _network(item)
    # a name the annotation says holds the gradient before the mask (the course's dA1 after
    # dA1 = dA1 * D1 / keep_prob) is bound to dG, as the user would (--bind "dA1=dG[1]")
    names = {k: v for k, v in item["names"].items() if v.startswith("dG[")}
    v = derive.check(text.strip(), net, names=names) if names else derive.check(text.strip(), net)
    if item["label"] == "correct":
        assert v.verdict == "correct", (v.message, [m.message for m in v.mistakes])
    else:
        assert v.verdict in ("not_equivalent", "shape_error"), v.message
        if item["mistake"] != "other":
            assert item["mistake"] in [m.code for m in v.mistakes]


# -- whole functions (derive check --code): the course's and CS231n's dropout backward --------------
COURSE_CODE = '''
def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    m = X.shape[1]
    (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1. / m * np.dot(dZ3, A2.T)
    db3 = 1. / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dA2 = dA2 * D2
    dA2 = dA2 / keep_prob
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1. / m * np.dot(dZ2, A1.T)
    db2 = 1. / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dA1 = dA1 * D1
    dA1 = dA1 / keep_prob
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1. / m * np.dot(dZ1, X.T)
    db1 = 1. / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
            "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
'''
CS231N_CODE = '''
def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param["mode"]
    if mode == "train":
        dx = dout * mask
    elif mode == "test":
        dx = dout
    return dx
'''


def _reads_dropout_code() -> bool:
    """Whether the checker takes keep_prob, dG and the masks of a code reading (three changes in
    modules this helper does not own: derive.parse.resolve, derive.check.checker and
    derive.code.reader/numeric_check); the tests below run once they do."""
    keep = derive.check("dZ1 = np.dot(W2.T, dZ2) * D1 / keep_prob * np.int64(Z1 > 0)", COURSE)
    dG = derive.check("dG1 = np.dot(W2.T, dZ2) * D1 / 0.8", COURSE)
    return keep.verdict == dG.verdict == "correct"


needs_reader = pytest.mark.skipif(not _reads_dropout_code(),
                                  reason="the checker does not read keep_prob and dG yet")


@needs_reader
def test_the_course_backward_with_dropout_is_correct_and_a_planted_mistake_is_named():
    from derive.code.checking import check_code

    net = derive.Network(layers=[4, 5, 3, 2], activations=["relu", "relu", "sigmoid"], loss="bce",
                         keep_prob=0.8)
    got = {r.verdict.target: r.verdict.verdict for r in check_code(COURSE_CODE, net).results}
    assert got == {t: "correct" for t in ("dZ[3]", "dW[3]", "db[3]", "dG[2]", "dZ[2]", "dW[2]",
                                          "db[2]", "dG[1]", "dZ[1]", "dW[1]", "db[1]")}, got
    planted = COURSE_CODE.replace("    dA1 = dA1 / keep_prob\n", "")
    results = {r.verdict.target: r.verdict for r in check_code(planted, net).results}
    assert results["dZ[1]"].verdict == "not_equivalent"
    assert [m.code for m in results["dZ[1]"].mistakes] == ["not_divided_by_keep_prob"]


def _reads_outputs_as_dG() -> bool:
    """Whether the code reader takes dG[l] as a known function's output (its own KINDS)."""
    from derive.code import reader

    return "dG" in reader.KINDS


@needs_reader
@pytest.mark.skipif(not _reads_outputs_as_dG(), reason="the code reader's KINDS have no dG yet")
def test_cs231n_dropout_backward_is_dG_and_a_missing_mask_is_named():
    from derive.code.checking import check_code

    net = derive.Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                         convention="rows", scale="dZ", keep_prob=0.75)
    (r,) = check_code(CS231N_CODE, net, layer=1).results
    assert (r.verdict.target, r.verdict.verdict) == ("dG[1]", "correct")
    (r,) = check_code(CS231N_CODE.replace("dx = dout * mask", "dx = dout"), net, layer=1).results
    assert [m.code for m in r.verdict.mistakes] == ["mask_not_applied"]
    # a solution that stores the cache the other way round, (mask, mode)
    other = CS231N_CODE.replace('dropout_param, mask = cache\n    mode = dropout_param["mode"]',
                                "(mask, mode) = cache")
    assert "(mask, mode) = cache" in other
    (r,) = check_code(other, net, layer=1).results
    assert (r.verdict.target, r.verdict.verdict) == ("dG[1]", "correct")


# -- dA[l] written as the course's masked dA1, which is derive's dG[l] (review) ---------------------
REVIEW = derive.Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce",
                        keep_prob=0.8)


def _value_and_oracle(text: str, net, kind: str, layer: int):
    """The formula's value, and autograd's gradient of the cost with respect to kind[layer]
    (``G``: the activation before the mask), on a random instance with its masks."""
    eq = parse_equation(text, net)
    inst = random_instance(net, seed=5, m=6)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items() if k != "D"}
    masks = {l: v for (k, l), v in inst.params.items() if k == "D"}
    values = gradient_values(derive.backward(net, prove=False), inst)
    got = evaluate(eq.rhs, values, numpy_backend(net, inst.m, inst.sizes))
    want = inst.m * oracle.intermediate_gradient(net, kind, layer, values[kind, layer], params,
                                                 inst.X, inst.Y, masks)
    return got, want


def test_dA_written_with_the_mask_is_named_dG():
    text = "dA[1] = W[2]ᵀ dZ[2] ⊙ D[1] / 0.8"
    got, dG = _value_and_oracle(text, REVIEW, "G", 1)
    _, dA = _value_and_oracle(text, REVIEW, "A", 1)
    assert np.allclose(got, dG) and not np.allclose(got, dA)  # it is dG[1], not dA[1]
    v = derive.check(text, REVIEW)
    assert v.verdict == "not_equivalent"
    assert [(m.code, m.message) for m in v.mistakes] == [(
        "mask_on_dA_name",
        "This is dG[1], the gradient with respect to G[1] = g(Z[1]) before the mask — what the "
        "course's dA1 holds after dA1 *= D1; dA1 /= keep_prob; derive's dA[1] is with respect "
        "to the masked A[1]: W[2]ᵀ dZ[2].")]
    assert v.expected == "dA[1] = W[2]ᵀ dZ[2]" and agrees(v.expected, REVIEW)
    # the same right side given as dG[1] is correct
    assert derive.check("dG[1] = W[2]ᵀ dZ[2] ⊙ D[1] / 0.8", REVIEW).verdict == "correct"


def test_mask_on_dZ_names_where_the_mask_is():
    v = derive.check("dA1 = np.dot(W2.T, dZ2 * D2 / 0.8)", COURSE)
    assert [m.code for m in v.mistakes] == ["mask_on_dZ"]
    assert v.mistakes[0].message.startswith(
        "The mask D[2] / 0.8 on dZ[2] in dZ2 * D2 / 0.8 does not belong there: ")
