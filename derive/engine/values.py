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

from typing import TYPE_CHECKING

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.expr import as_sympy, evaluate
from derive.network import model
from derive.network.spec import dim_symbol, factor_at
from derive.network.spec import m as m_symbol

if TYPE_CHECKING:  # numpy is imported where numbers are computed
    import numpy as np


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
    import numpy as np
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
    backend = model.numpy_backend(net, model.example_count(net, instance.X), instance.sizes)
    for f in derivation.formulas:
        env[f.kind, f.layer] = evaluate(f.expr, env, backend)
    return env


def bind_m(expr, m_value: int, sizes=None, extra: dict | None = None):
    """The expression with the symbol m replaced by the instance's number of examples, and with
    ``sizes`` (n[0..L], see :func:`env_sizes`) each symbolic size n[l] in a factor (the 2/n[L]
    of mse_units) by its value; ``extra`` binds other symbols of factors (a worked example's
    learning rate α)."""
    binding = {m_symbol: m_value, **(extra or {})}
    if sizes is not None:
        binding.update({dim_symbol(l): int(s) for l, s in enumerate(sizes)})
    return _bind(expr, binding)


def _bind(expr, binding: dict):
    if isinstance(expr, E.Scale):
        factor = as_sympy(expr.factor).subs(binding)
        return E.map_children(expr, lambda c: _bind(c, binding), factor=factor)
    return E.map_children(expr, lambda c: _bind(c, binding))


def env_sizes(net, env: dict) -> tuple[int, ...] | None:
    """n[0..L]: the network's given sizes, else those of the arrays in ``env`` (X and every
    A[l]); None while some are unknown (a forward pass still under way)."""
    import numpy as np
    axis = net.layout.unit_axis
    out = []
    for l in range(net.L + 1):
        key = ("X", None) if l == 0 else ("A", l)
        if net.layers[l] is not None:
            out.append(int(net.layers[l]))
        elif key in env:
            out.append(int(np.shape(env[key])[axis]))
        else:
            return None
    return tuple(out)
