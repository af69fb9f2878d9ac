"""Layer types: one module each, and the registry that maps a kind to its type.

>>> REGISTRY["dense"].parameters, REGISTRY["dense"].quantities()
(('W', 'b'), ('W', 'b', 'D', 'Z', 'G', 'A'))
>>> layer_type("conv")
Traceback (most recent call last):
...
derive.errors.SpecError: unknown layer kind 'conv'; known: batchnorm, conv2d, dense, flatten, pool
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from derive.errors import SpecError
from derive.layers.base import LayerType
from derive.layers.batchnorm import BatchNorm
from derive.layers.conv2d import Conv2D
from derive.layers.dense import Dense
from derive.layers.flatten import Flatten
from derive.layers.pool import Pool

_TYPES: dict[str, LayerType] = {}
REGISTRY: Mapping[str, LayerType] = MappingProxyType(_TYPES)


def register(layer: LayerType) -> LayerType:
    """Add a layer type under its ``kind``; a kind registered twice is an error."""
    if layer.kind in _TYPES:
        raise ValueError(f"layer kind {layer.kind!r} is registered twice")
    _TYPES[layer.kind] = layer
    _clear()
    return layer


def unregister(kind: str) -> None:
    """Remove a layer type (for tests that register one of their own)."""
    _TYPES.pop(kind, None)
    _clear()


def _clear() -> None:
    vocabulary.cache_clear()
    constants.cache_clear()
    given.cache_clear()


def layer_type(kind: str) -> LayerType:
    """The layer type of ``kind``, or a SpecError naming the known kinds."""
    try:
        return _TYPES[kind]
    except KeyError:
        raise SpecError(f"unknown layer kind {kind!r}; known: {', '.join(sorted(_TYPES))}") from None


@functools.cache
def vocabulary() -> tuple[str, ...]:
    """Every quantity name some layer type owns (W, b, Z, A, ...), in registration order."""
    return tuple(dict.fromkeys(q for t in _TYPES.values() for q in t.quantities()))


@functools.cache
def constants() -> tuple[str, ...]:
    """The quantities some layer type owns that have no gradient (dropout's mask D)."""
    return tuple(dict.fromkeys(q for t in _TYPES.values() for q in t.constants))


@functools.cache
def given() -> tuple[str, ...]:
    """What a network's numbers are given rather than computed: its trained parameters (W, b, γ, β)
    and fixed inputs (dropout's mask D), from every layer type, in registration order.

    >>> given()
    ('W', 'b', 'D', 'gamma', 'beta')
    """
    return tuple(dict.fromkeys(q for t in _TYPES.values() for q in (*t.parameters, *t.constants)))


register(Dense())
register(BatchNorm())
register(Conv2D())
register(Pool())
register(Flatten())
