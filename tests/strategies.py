"""Hypothesis strategies, named for what they make."""

from __future__ import annotations

from hypothesis import strategies as st

from derive.catalogue import rules

ELEMENTWISE = tuple(n for n in rules.activations() if rules.activations()[n].elementwise)
ALL_ACTIVATIONS = (*ELEMENTWISE, "softmax", None)  # None: a generic g[l]
LOSSES = (None, "bce", "ce", "mse", "half_mse", "mse_units", "svm")


def output_activations_for(loss):
    """Output activations whose range suits the loss (bce and ce need outputs in (0, 1))."""
    if loss in ("bce", "ce"):
        return ("sigmoid", "softmax")
    return ALL_ACTIVATIONS


SCALES = ("mean", "sum")  # the scales every command has had from the start
ALL_SCALES = (*SCALES, "dZ")
L2S = (None, 0.3, True)  # no L2, a numeric λ, a symbolic one
KEEP_PROBS = (None, 0.5, True, "per layer")  # no dropout, one number, the symbol, one per layer


@st.composite
def networks(draw, max_depth: int = 4, scales=SCALES, losses=LOSSES, l2s=(None,),
             keep_probs=(None,), min_depth: int = 1, batchnorm: bool = False):
    """A random dense network: depth 1..max_depth, any activations, a compatible loss (from
    ``losses``), either convention, a scale from ``scales``, each size a small integer or
    symbolic; an L2 coefficient from ``l2s`` (None: no L2; True: a symbolic λ) in any form, on
    every layer or a random nonempty set of them; a dropout keep probability from ``keep_probs``
    ("per layer": one drawn per hidden layer, 1 among them; a softmax hidden layer keeps 1); with
    ``batchnorm`` a random nonempty set of layers is batch normalised (no dropout then)."""
    from derive.network.spec import Network

    depth = draw(st.integers(min_depth, max_depth))
    loss = draw(st.sampled_from(losses))
    hidden = [draw(st.sampled_from(ALL_ACTIVATIONS)) for _ in range(depth - 1)]
    out = draw(st.sampled_from(output_activations_for(loss)))
    acts = [*hidden, out]
    sizes = [draw(st.one_of(st.none(), st.integers(1, 4))) for _ in range(depth + 1)]
    for l, a in enumerate(acts, start=1):
        if a == "softmax" and sizes[l] == 1:
            sizes[l] = 2
    l2 = draw(st.sampled_from(l2s))
    extra = {}
    if l2 is not None:
        chosen = draw(st.lists(st.integers(1, depth), min_size=1, max_size=depth, unique=True))
        extra = dict(l2=l2, l2_form=draw(st.sampled_from(("course", "half", "plain"))),
                     l2_layers=draw(st.sampled_from((None, sorted(chosen)))))
    keep = draw(st.sampled_from(keep_probs)) if depth > 1 else None
    if keep is not None and (keep == "per layer" or "softmax" in hidden):
        keep = [1 if a == "softmax" else draw(st.sampled_from((1, 0.8, 0.5))) if keep == "per layer"
                else keep for a in hidden]
    if keep is not None:
        extra["keep_prob"] = keep
    if batchnorm:
        extra.pop("keep_prob", None)
        extra["batchnorm"] = sorted(draw(st.lists(st.integers(1, depth), min_size=1,
                                                  max_size=depth, unique=True)))
    return Network(
        **extra,
        layers=sizes,
        activations=acts,
        loss=loss,
        convention=draw(st.sampled_from(("columns", "rows"))),
        scale=draw(st.sampled_from(scales)),
    )
