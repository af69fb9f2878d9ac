"""The proof cache's keys (derive/engine/proof_keys.py) after its memoization are the keys of the
plain implementation, byte for byte: the reference below is that implementation (no memo, an
isinstance chain, each formula's reads walked again), written out here as the oracle, and every
formula of networks with each kind of layer, cost term and convention is keyed by both."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.printing import to_text
from derive.engine import proof, proof_keys
from derive.engine.backward import derive
from derive.engine.proof_cache import Cache
from derive.network.spec import Network


def _relative(text: str, l: int) -> str:
    if not proof_keys._DIGIT.search(text):
        return text
    text = proof_keys._LAYER.sub(lambda g: f"[l{int(g.group(1)) - l:+d}]", text)
    return proof_keys._SIZE.sub(lambda g: f"n[l{int(g.group(1)) - l:+d}]", text)


def _plain(value, l: int = 0):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _relative(value, l)
    if isinstance(value, rules.Activation):
        return f"activation:{value.name}"
    if isinstance(value, E.Expr):
        return _structure(value, l)
    if isinstance(value, sp.Basic):
        return _relative(sp.srepr(value), l)
    if isinstance(value, tuple | list):
        return [_plain(v, l) for v in value]
    raise TypeError(type(value).__name__)


def _structure(e, l: int) -> list:
    out: list = [type(e).__name__]
    for name in proof_keys._compared(type(e)):
        v = getattr(e, name)
        out.append(v - l if name == "layer" and isinstance(v, int) else _plain(v, l))
    return out


def _local_key(net, f, shapes: dict, m: int) -> tuple:
    l, loc = f.layer, f.local
    if loc is None:
        return (f.kind, l)
    keys, activated, layers = proof_keys.read(f)

    def shape(base, k):
        if (base, k) not in shapes:
            shapes[base, k] = proof_keys.shape_at(net, base, k, m)
        return shapes[base, k]

    return (
        f.kind, l == net.L, l == 1, loc.loss, loc.scaled, loc.generic, loc.penalty,
        _relative(to_text(f.expr), l), _relative(loc.method, l),
        tuple(_relative(f"{to_text(t)} = {to_text(d)}", l) for t, d in loc.through),
        tuple(sorted(((base, None if k is None else k - l, shape(base, k)) for base, k in keys),
                     key=repr)),
        tuple((k - l, net.kinds[k - 1]) for k in sorted(layers) if 1 <= k <= net.L),
        tuple((k - l, net.activation(k)) for k in sorted(activated) if 1 <= k <= net.L),
    )


def _context(net) -> list:
    return [net.loss, net.convention, net.scale, _plain(net.l2), net.l2_form,
            _plain(net.l2_layers), _plain(net.keep_prob), net.all_dense]


def _fd_parts(fd_net, f, fd_shapes, seed, eps) -> list:
    l, loc = f.layer, f.local
    parts = [_context(fd_net), _structure(f.expr, l), seed, eps]
    if loc is None:
        return parts
    _, activated, _ = proof_keys.read(f)
    standins = sorted(k for k in activated if 1 <= k <= fd_net.L and fd_net.activation(k) is None)
    return [*parts, [[_structure(t, l), _structure(d, l)] for t, d in loc.through],
            _plain(_local_key(fd_net, f, fd_shapes, proof_keys.FD_M), l), standins]


def _reference_keys(derivation, seed: int, eps: float) -> list[str]:
    net = derivation.network
    sym_net = proof._symbolic_net(net)
    fd_net = net.replace(layers=proof._fd_sizes(net))
    sym_shapes: dict = {}
    fd_shapes: dict = {}
    return [Cache.key_text(["formula", *_fd_parts(fd_net, f, fd_shapes, seed, eps),
                            _plain(_local_key(sym_net, f, sym_shapes, proof_keys.SYMBOLIC_M),
                                   f.layer)])
            for f in derivation.formulas]


NETWORKS = {
    "dense": Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
    "deep tanh": Network(layers=[4] * 30 + [1], activations=["tanh"] * 29 + ["sigmoid"],
                         loss="bce"),
    "varied": Network(layers=[5, 3, 7, 2, 4], activations=["relu", "tanh", "leaky_relu", "softmax"],
                      loss="ce"),
    "l2": Network(layers=[3, 4, 2], activations=["tanh", "softmax"], loss="ce", l2=0.1),
    "dropout": Network(layers=[3, 4, 4, 1], activations=["relu", "tanh", "sigmoid"], loss="bce",
                       keep_prob=0.8),
    "batchnorm": Network(layers=[2, 3, 1], activations=["relu", "sigmoid"], loss="bce",
                         batchnorm=[1]),
    "rows": Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce",
                    convention="rows"),
    "generic": Network(depth=3),
    "mse": Network(layers=[3, 2, 2], activations=["sigmoid", "identity"], loss="mse"),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_memoized_keys_are_the_plain_implementations(name):
    derivation = derive(NETWORKS[name], prove=False)
    proof_keys._relative.cache_clear()  # a cold memo, then a warm one: both give the same keys
    for seed, eps in ((0, 1e-6), (3, 1e-5)):
        sizes = proof._fd_sizes(derivation.network)
        got = [Cache.key_text(k) for k in proof._persistent_keys(derivation, sizes, seed, eps)]
        want = _reference_keys(derivation, seed, eps)
        assert got == want


def test_two_layers_of_one_deep_network_share_a_key_and_a_wrong_formula_does_not():
    """The relative naming is what lets a deep network's layers share proofs (layers two apart:
    the element-wise instance alternates sizes 2 and 3); a different formula never shares one."""
    derivation = derive(NETWORKS["deep tanh"], prove=False)
    sizes = proof._fd_sizes(derivation.network)
    keys = [Cache.key_text(k) for k in proof._persistent_keys(derivation, sizes, 0, 1e-6)]
    by_name = dict(zip((f.name for f in derivation.formulas), keys, strict=True))
    assert by_name["dZ[10]"] == by_name["dZ[12]"]
    assert by_name["dZ[10]"] != by_name["dW[10]"]
