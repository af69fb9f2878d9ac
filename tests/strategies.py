"""Hypothesis strategies, named for what they make."""

from __future__ import annotations

from hypothesis import strategies as st

from derive.catalogue import rules

ELEMENTWISE = tuple(n for n in rules.activations() if rules.activations()[n].elementwise)
ALL_ACTIVATIONS = (*ELEMENTWISE, "softmax", None)  # None: a generic g[l]
LOSSES = (None, "bce", "ce", "mse", "half_mse")


def output_activations_for(loss):
    """Output activations whose range suits the loss (bce and ce need outputs in (0, 1))."""
    if loss in ("bce", "ce"):
        return ("sigmoid", "softmax")
    return ALL_ACTIVATIONS


SCALES = ("mean", "sum")  # the scales every command has had from the start
ALL_SCALES = (*SCALES, "dZ")


@st.composite
def networks(draw, max_depth: int = 4, scales=SCALES, losses=LOSSES):
    """A random dense network: depth 1..max_depth, any activations, a compatible loss (from
    ``losses``), either convention, a scale from ``scales``, each size a small integer or
    symbolic."""
    from derive.network.spec import Network

    depth = draw(st.integers(1, max_depth))
    loss = draw(st.sampled_from(losses))
    hidden = [draw(st.sampled_from(ALL_ACTIVATIONS)) for _ in range(depth - 1)]
    out = draw(st.sampled_from(output_activations_for(loss)))
    acts = [*hidden, out]
    sizes = [draw(st.one_of(st.none(), st.integers(1, 4))) for _ in range(depth + 1)]
    for l, a in enumerate(acts, start=1):
        if a == "softmax" and sizes[l] == 1:
            sizes[l] = 2
    return Network(
        layers=sizes,
        activations=acts,
        loss=loss,
        convention=draw(st.sampled_from(("columns", "rows"))),
        scale=draw(st.sampled_from(scales)),
    )
