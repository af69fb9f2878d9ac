"""The layout a snippet's own functions say, when the user gave none: CS231n's layer functions
(``batchnorm_backward(dout, cache)``, ``affine_backward``, ...) and their names (``dout``,
``dx``) hold one example per row, so such code is read in rows, as a formula's CS231n names
are (derive.check.dialect), with a note saying so. An explicit convention always wins.

>>> import ast
>>> tree = ast.parse("def batchnorm_backward(dout, cache):\\n    dx = dout\\n    return dx")
>>> rows_function(tree)
'batchnorm_backward(dout, cache)'
>>> rows_function(ast.parse("def linear_backward(dZ, cache):\\n    return dZ"))
"""

from __future__ import annotations

import ast

from derive.parse.dialects import DIALECTS

# CS231n's assignment functions (layers.py, layer_utils.py, the classifiers): their names say
# rows; relu_backward and the like are the course's too, and say rows only with CS231n's names
CS231N_FUNCTIONS = frozenset({
    "affine_backward", "affine_relu_backward", "affine_forward", "affine_relu_forward",
    "batchnorm_backward", "batchnorm_backward_alt", "batchnorm_forward",
    "layernorm_backward", "layernorm_forward", "dropout_backward", "dropout_forward",
    "affine_bn_relu_backward", "affine_norm_relu_backward", "softmax_loss", "svm_loss",
    "svm_loss_naive", "svm_loss_vectorized", "softmax_loss_naive", "softmax_loss_vectorized",
})
# the parameters of CS231n's backward functions
CS231N_PARAMETERS = frozenset({"dout", "dscores"}) & DIALECTS["cs231n"].marks


def rows_function(tree: ast.Module) -> str | None:
    """The first function of ``tree`` whose name or parameters are CS231n's, a backward one
    first (its header, as ``batchnorm_backward(dout, cache)``), or None."""
    found: list[tuple[bool, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        params = [a.arg for a in node.args.args if a.arg != "self"]
        takes = bool(CS231N_PARAMETERS & set(params))
        if node.name in CS231N_FUNCTIONS or takes:
            backward = takes or node.name.endswith("_backward")
            found.append((not backward, f"{node.name}({', '.join(params)})"))
    return min(found, key=lambda f: f[0])[1] if found else None


def rows_note(header: str) -> str:
    """The note for code read in rows because of the function ``header``."""
    return (f"read in CS231n's layout (rows = examples) from the function {header}; pass "
            "--convention columns to read it otherwise")


__all__ = ["CS231N_FUNCTIONS", "rows_function", "rows_note"]
