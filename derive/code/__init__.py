"""Whole code snippets: every gradient a function (or a few lines of numpy code) computes,
read statically and checked one by one (docs/code.md).

The code is parsed by Python's ``ast`` (bounded and whitelisted, :mod:`.source`) and never
executed: its statements are followed in order (:mod:`.reader`), each array expression read by
:mod:`derive.parse` with the snippet's variables bound to what they hold (:mod:`.evaluate`), the
course's well-known functions given their meaning by one table (:mod:`.known`), and every
gradient checked by :func:`derive.check.checker.check_with` (:mod:`.checking`).

>>> from derive.network.spec import Network
>>> net = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
>>> out = check_code("dZ = np.array(dA, copy=True)\\ndZ[Z <= 0] = 0", net, layer=1)
>>> [(r.line, r.name, r.target, r.verdict.verdict) for r in out.results]
[(2, 'dZ', 'dZ[1]', 'correct')]
"""

from __future__ import annotations

from derive.code.checking import check_code
from derive.code.result import CodeResult, GradientResult

__all__ = ["CodeResult", "GradientResult", "check_code"]
