"""What a teacher would point out in a worked example (targets outside the output's range,
saturated units, units with g′ = 0, pre-activations on a kink) and the notes every worked example
carries (the loss, the scale, the convention)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.catalogue import rules
from derive.errors import SpecError
from derive.network.spec import Network

SATURATION = 1e-4  # |g′(z)| below this fraction of sup|g′| counts as saturated


@dataclass(frozen=True)
class Warning_:
    """What a teacher would point out: ``kind`` is target_range, saturation, inactive or kink."""

    kind: str
    message: str
    layer: int | None = None


# -- what a teacher would say --------------------------------------------------------------------
def teacher_warnings(w) -> list[Warning_]:
    """The warnings for the worked example ``w`` (a :class:`derive.numbers.worked.Worked`)."""
    net = w.network
    out: list[Warning_] = []
    if ("Y", None) in w.given and net.loss_entry is not None:
        out += _target_warnings(net, w.given[("Y", None)])
    out += _unit_warnings(w)
    return out


def _target_warnings(net: Network, Y: np.ndarray) -> list[Warning_]:
    out: list[Warning_] = []
    L = net.L
    act = activation(net, L)
    lo, hi = (float(v) for v in act.range)
    outside = (Y < lo) | (Y > hi)
    if np.any(outside):
        y = float(Y[outside][0])
        edge = hi if y > hi else lo
        loss = loss_of(net)
        floor = float(loss.per_unit_at(loss.per_unit, net.dim(L)).subs({rules.a: edge, rules.y: y}))
        out.append(Warning_("target_range", (
            f"the target y = {_g(y)} lies outside the range ({_g(lo)}, {_g(hi)}) of {act.name} on "
            f"the output layer: A[{L}] can never reach it, and this example's loss stays above "
            f"ℓ({_g(edge)}, {_g(y)}) = {_g(floor)}. Use a linear output, or scale the targets "
            f"into ({_g(lo)}, {_g(hi)})."), L))
    ylo, yhi = (float(v) for v in loss_of(net).y_range)
    if np.any((Y < ylo) | (Y > yhi)):
        out.append(Warning_("target_range", (
            f"{net.loss} expects targets in [{_g(ylo)}, {_g(yhi)}], but Y has "
            f"{_g(float(Y.min()))}..{_g(float(Y.max()))}"), L))
    return out


def _unit_warnings(w) -> list[Warning_]:
    net = w.network
    out: list[Warning_] = []
    keys = {s.key for s in w.steps}
    for l in range(1, net.L + 1):
        act = activation(net, l)
        base = "Ztilde" if ("Ztilde", l) in keys else "Z"  # batch norm: g reads Z̃[l]
        zn = "Z̃" if base == "Ztilde" else "Z"
        if not act.elementwise or (base, l) not in keys:
            continue
        Z = w.value((base, l))
        gp = np.asarray(act.numpy_derivative(Z), dtype=float) * np.ones_like(Z)
        bound = float(act.derivative_bound)
        scale = 1e-12 * max(1.0, float(np.max(np.abs(Z))))
        on_kink = np.zeros(Z.shape, dtype=bool)
        for k in act.kinks:
            on = np.abs(Z - float(k)) <= scale
            on_kink |= on
            if np.any(on):
                i, j = np.argwhere(on)[0]
                at = float(act.numpy_derivative(float(k)))
                left = float(act.numpy_derivative(float(k) - 1e-9))
                right = float(act.numpy_derivative(float(k) + 1e-9))
                out.append(Warning_("kink", (
                    f"{zn}[{l}] entry ({i + 1}, {j + 1}) = {_g(float(Z[i, j]))} sits exactly on "
                    f"{act.name}'s kink at {_g(float(k))}: {act.name} has no derivative there (left "
                    f"{_g(left)}, right {_g(right)}); the catalogue, like numpy's {act.derivative_numpy}, "
                    f"uses {act.text}′({_g(float(k))}) = {_g(at)}"
                    + (f" ({int(on.sum())} entries on the kink)" if on.sum() > 1 else "")), l))
        dead = (gp == 0) & ~on_kink if act.kinks else np.zeros(Z.shape, dtype=bool)
        if np.any(dead):
            out.append(Warning_("inactive", (
                f"{int(dead.sum())} entr{'y' if dead.sum() == 1 else 'ies'} of {zn}[{l}] below the kink: "
                f"{act.text}′ = 0 there, so no gradient flows back through "
                f"{'that unit' if dead.sum() == 1 else 'those units'} for this example"), l))
        sat = (np.abs(gp) < SATURATION * bound) & ~dead & ~on_kink
        if np.any(sat):
            idx = tuple(np.argwhere(sat)[0])
            out.append(Warning_("saturation", (
                f"{act.text}′({zn}[{l}]) = {_g(float(gp[idx]))} at {zn}[{l}] = {_g(float(Z[idx]))}: the unit "
                f"is saturated and the gradient has vanished (dZ[{l}] is dA[{l}] times "
                f"{_g(float(gp[idx]))}); every gradient below layer {l} is scaled down with it"), l))
    return out


def notes(net: Network, d, m: int) -> list[str]:
    """The derivation's notes, then the loss, the scale and the convention of the example."""
    out = list(d.notes)
    loss = net.loss_entry
    if loss is not None:
        out.append(f"loss {loss.name}: ℓ = {loss.text} ({loss.title})")
    notes = out
    if loss is None:
        notes.append(f"no loss: the upstream gradient is given; m = {m}, "
                     + ("dW and db carry 1/m (the course's linear_backward)" if net.cost_is_mean
                        and net.per_example_dZ else "no 1/m in dW and db (CS231n's layers: "
                        "the upstream gradient carries it)"))
    elif net.cost_is_mean:
        notes.append(f"J = (1/m) Σ ℓ over the m = {m} example{'s' if m != 1 else ''}"
                     + ("; with m = 1 the mean and the sum agree" if m == 1 else "")
                     + ("; scale dZ: the 1/m is in dA[L] and dZ[L], none in dW and db"
                        if not net.per_example_dZ else ""))
    else:
        notes.append("J = Σ ℓ over the examples (scale sum: no 1/m)")
    layout = net.layout
    notes.append(f"convention {layout.name}: X is {'×'.join(layout.batch('n[0]', 'm'))}, "
                 f"one {layout.example_word} per example")
    return notes


def activation(net: Network, layer: int) -> rules.Activation:
    """Layer ``layer``'s catalogue activation (a worked example has no generic g)."""
    act = net.activation(layer)
    if act is None:
        raise SpecError(f"layer {layer} has a generic activation: a worked example needs a concrete one")
    return act


def loss_of(net: Network) -> rules.Loss:
    """The network's catalogue loss (a worked example has no generic ℓ)."""
    loss = net.loss_entry
    if loss is None:
        raise SpecError("a worked example needs a concrete loss (e.g. --loss mse)")
    return loss


def _g(x: float) -> str:
    return f"{x:.4g}"
