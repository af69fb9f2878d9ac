"""Mistakes with batch normalisation (issue 11): where the rules apply and their sentences.

A batch-normalised layer has Z̃[l] = γ[l] ⊙ Z_norm[l] + β[l], so dγ[l] = s Σ dZ̃ ⊙ Z_norm and
dβ[l] = s Σ dZ̃ with s the factor of dW and db (1/m under the course's scale mean, none under
CS231n's scale dZ, whose dout already carries 1/N). Two mistakes, each one edit:

- ``dgamma_dbeta_divided_by_m``: dγ or dβ divided by the batch size where the scale puts no 1/m
  there (CS231n's ``dbeta = np.sum(dout, axis=0) / N``): the 1/m is already in the upstream;
- ``bn_statistics_paths_missing``: dZ[l] written as the direct path alone,
  dZ̃[l] ⊙ γ[l] ⊘ sqrt(σ²[l] + ε) (= dZ_norm ⊘ sqrt(σ²+ε)), the paths through μ[l] and σ²[l] left
  out (the most common batch-norm mistake): the whole correct formula;
- ``bn_sum_wrong_axis``: a sum of batch norm (dγ, dβ, dσ², dμ or the compact dZ) over the
  units instead of the examples: μ and σ² are statistics of each unit over the batch.

>>> from derive.network.spec import Network
>>> from collections.abc import Iterator

from derive.check.edits import Context, Fix, Site, same_value
from derive.check.numeric import numbers_for
from derive.check.raw import Raw, to_raw, walk
from derive.core import expr as E
>>> in_batchnorm(Context(Network(layers=[3, 4, 2], batchnorm=[1]), "dZ", 1))
True
>>> in_batchnorm(Context(Network(layers=[3, 4, 2], batchnorm=[1]), "dZ", 2))
False
"""

from __future__ import annotations

from collections.abc import Iterator

from derive.check.edits import Context, Fix, Site, same_value
from derive.check.numeric import numbers_for
from derive.check.raw import Raw, to_raw, walk
from derive.core import expr as E

PARAMETERS = ("dgamma", "dbeta")
STATISTICS = ("dgamma", "dbeta", "dvar", "dmu", "dZnorm", "dZtilde")


def batch_parameter(ctx: Context) -> bool:
    """The gradient checked is dγ or dβ of a layer with batch norm, under a scale that writes
    no 1/m there (so a 1/m is the batch size divided in once too often)."""
    return ctx.kind in PARAMETERS and ctx.net.weight_factor == 1


def in_batchnorm(ctx: Context) -> bool:
    """The gradient checked is one of batch norm's (or dZ of a batch-normalised layer)."""
    return 1 <= ctx.layer <= ctx.net.L and ctx.net.kinds[ctx.layer - 1] == "batchnorm" and \
        (ctx.kind in STATISTICS or ctx.kind == "dZ")


def direct_path_only(root: Raw, site: Site) -> Iterator[Fix]:
    """dZ[l] of a batch-normalised layer whose value is the direct path alone,
    γ[l] ⊘ sqrt(σ²[l] + ε) ⊙ dZ̃[l]: the correct formula, its paths through μ and σ² added."""
    ctx = site.ctx
    if ctx.kind != "dZ" or not in_batchnorm(ctx):
        return
    formula = numbers_for(ctx.net).derivation.get("dZ", ctx.layer)
    if formula is None:
        return
    correct = to_raw(formula.expr)
    scale = next((n for _, n, _ in walk(correct) if n.kind is E.Div and n.kids[0].kind is E.Sym
                  and n.kids[0].args == ("gamma", ctx.layer)), None)
    if scale is None:
        return
    direct = Raw(E.Hadamard, (scale, Raw(E.Sym, ("dZtilde", ctx.layer)), True))  # broadcast
    if same_value(root, direct, ctx):
        yield Fix(correct, shown=(root, correct))


def statistics_paths_missing(before: str, after: str, ctx: Context) -> str:
    l = ctx.layer
    return (f"The paths through μ[{l}] and σ²[{l}] are missing: {before} is only the direct "
            f"path dZ_norm[{l}] ⊘ sqrt(σ²[{l}] + ε); μ[{l}] and σ²[{l}] are computed from Z[{l}] "
            f"too (each example moves the batch's mean and variance), so dZ[{l}] also takes "
            f"dσ²[{l}] ⊙ 2 (Z[{l}] − μ[{l}]) / m + dμ[{l}] / m: {after}.")


def dgamma_dbeta_divided_by_m(before: str, after: str, ctx: Context) -> str:
    l, net = ctx.layer, ctx.net
    where = (f"with scale {net.scale} the mean's 1/m is already in dZ[{net.L}] (CS231n's dout "
             "holds it)" if net.cost_is_mean else "with scale sum there is no 1/m anywhere")
    name = "dγ" if ctx.kind == "dgamma" else "dβ"
    return (f"The batch size divides {before} once too often: {where}, so {name}[{l}] sums "
            f"dZ̃[{l}] over the examples without dividing again: {after}.")


def bn_sum_wrong_axis(before: str, after: str, ctx: Context) -> str:
    axis = ctx.example_sum_axis
    return (f"The sum in {before} runs over the wrong axis: batch norm's μ[{ctx.layer}] and σ²[{ctx.layer}] "
            f"are statistics of each unit over the examples of the batch, so its sums run over "
            f"the examples (axis={axis}, the axis of m): {after}.")


__all__ = ["batch_parameter", "bn_sum_wrong_axis", "dgamma_dbeta_divided_by_m",
           "direct_path_only", "in_batchnorm", "statistics_paths_missing"]
