"""Central finite differences, batched: every perturbed copy goes through one forward pass.

The relative error is ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) (0 when both vanish).

>>> import numpy as np
>>> x = np.array([[1.0, 2.0], [3.0, -1.0]])
>>> g = central_differences(lambda xs: np.sum(xs ** 3, axis=(-2, -1)), x, 1e-5)
>>> relative_error(g, 3 * x ** 2) < 1e-9
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where numbers are computed
    import numpy as np


DEFAULT_EPS = (
    1e-5  # ≈ (machine ε)^(1/3) scaled up: truncation and round-off errors balance near here
)
DEFAULT_THRESHOLD = 1e-6


def perturbations(x: np.ndarray, eps: float) -> np.ndarray:
    """``x.size`` copies of ``x`` stacked on a new leading axis, copy k with entry k moved by eps."""
    import numpy as np
    n = x.size
    return (np.eye(n) * eps).reshape((n, *x.shape))


def central_differences(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    eps: float = DEFAULT_EPS,
    chunk: int = 4096,
) -> np.ndarray:
    """∂f/∂x by central differences; ``f`` maps a batch (k, *x.shape) to k scalars."""
    import numpy as np
    x = np.asarray(x, dtype=float)
    chunk = max(1, min(chunk, 4_000_000 // max(x.size, 1)))  # at most ~32 MB of perturbations
    out = np.empty(x.size)
    flat_eye_rows = range(0, x.size, chunk)
    for start in flat_eye_rows:
        stop = min(start + chunk, x.size)
        k = stop - start
        delta = np.zeros((k, x.size))
        delta[np.arange(k), np.arange(start, stop)] = eps
        delta = delta.reshape((k, *x.shape))
        out[start:stop] = (np.asarray(f(x + delta)) - np.asarray(f(x - delta))) / (2 * eps)
    return out.reshape(x.shape)


def relative_error(g: np.ndarray, h: np.ndarray) -> float:
    """‖g − h‖ / (‖g‖ + ‖h‖), the course's gradient-check measure; 0 when both are zero."""
    import numpy as np
    g, h = np.asarray(g, dtype=float), np.asarray(h, dtype=float)
    denom = np.linalg.norm(g) + np.linalg.norm(h)
    return 0.0 if denom == 0 else float(np.linalg.norm(g - h) / denom)
