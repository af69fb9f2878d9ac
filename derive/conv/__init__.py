"""Convolutional networks: the spec (:mod:`~derive.conv.spec`), the derivation
(:mod:`~derive.conv.derivation`), its proofs (:mod:`~derive.conv.proof`), the numbers API
(:mod:`~derive.conv.numbers`) and the rendering (:mod:`~derive.conv.render`).

>>> from derive.conv import derive_cnn, load_cnn
>>> callable(derive_cnn), callable(load_cnn)
(True, True)
"""

from __future__ import annotations

from derive.conv.derivation import CNNDerivation, ConvStep, derive_cnn
from derive.conv.spec import CNN, CNNLayer, load_cnn

__all__ = ["CNN", "CNNDerivation", "CNNLayer", "ConvStep", "derive_cnn", "load_cnn"]
