"""Numbers for a derivation: every formula evaluated, in order, with numpy.

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> from derive.network.model import random_instance
>>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
>>> d = derive(net, prove=False)
>>> values = gradient_values(d, random_instance(net, seed=1))
>>> values["dW", 1].shape, values["db", 2].shape
((3, 3), (1, 1))
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.expr import as_sympy, evaluate
from derive.network import model
from derive.network.spec import factor_at
from derive.network.spec import m as m_symbol


def forward_env(net, instance: model.Instance) -> dict:
    """X, Y, every W, b and the forward pass's Z, A, keyed as (base, layer)."""
    cache = model.forward(net, instance.params, instance.X)
    env = {("X", None): instance.X, ("Y", None): instance.Y, **instance.params}
    for (base, layer), value in cache.items():
        if layer != 0:
            env[base, layer] = value
    return env


def generic_upstream(net, env: dict) -> np.ndarray:
    """dA[L] for a generic loss: the stand-in loss's ∂ℓ/∂a at (A[L], Y), times the network's
    output factor (1/m for scale dZ, where dA[L] is ∂J/∂A[L])."""
    loss = model.standin_loss()
    grad = sp.lambdify((rules.a, rules.y), sp.diff(loss.per_unit, rules.a), [np])
    c = factor_at(net.output_factor, model.example_count(net, env["Y", None]))
    return c * np.asarray(grad(env["A", net.L], env["Y", None]), dtype=float)


def gradient_values(derivation, instance: model.Instance, env: dict | None = None) -> dict:
    """Every formula of ``derivation`` evaluated on ``instance`` (in order, each one feeding the
    next): a dict (kind, layer) -> array. Also holds the inputs (X, Y, W, b, Z, A)."""
    net = derivation.network
    env = dict(env) if env is not None else forward_env(net, instance)
    if net.loss is None:
        env["dA", net.L] = generic_upstream(net, env)
    backend = model.numpy_backend(net, model.example_count(net, instance.X))
    for f in derivation.formulas:
        env[f.kind, f.layer] = evaluate(f.expr, env, backend)
    return env


def bind_m(expr, m_value: int):
    """The expression with the symbol m replaced by the instance's number of examples."""
    if isinstance(expr, E.Scale):
        factor = as_sympy(expr.factor).subs(m_symbol, m_value)
        return E.map_children(expr, lambda c: bind_m(c, m_value), factor=factor)
    return E.map_children(expr, lambda c: bind_m(c, m_value))
