"""Unbounded work, replayed: each case of the reliability issue for the handout, the Jacobian and
stability either finishes on a bounded problem or is refused up front by a declared limit that
names itself and the flag that narrows the work (exit code 2 from the CLI, ``ResourceLimit`` from
the Python API). Each case also has a neighbour just inside the limit that completes, or, where
that would take too long for a test, a smaller legitimate run and the estimate itself.

No timings are asserted; every test here takes a few seconds at most.
"""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest
import sympy as sp

from derive.cli import main
from derive.errors import ResourceLimit
from derive.handout.document import handout
from derive.jacobian.cost import ENTRIES, SYMBOLIC, estimate
from derive.jacobian.naive import naive_chain_rule
from derive.jacobian.quantities import SIZE, parse_quantity, resolve_sizes, symbolic_model
from derive.jacobian.tensor import jacobian
from derive.limits import DECLARED
from derive.network.spec import Network
from derive.stability.cost import DEPTH, MEMORY, SWEEP_RUNS, SWEEP_WORK, WORK, norm_chunk

S = importlib.import_module("derive.stability.analyse")  # the module (derive.stability.analyse is
C = importlib.import_module("derive.stability.cost")  # also the name of the function)

SIZES_64 = "n0=64,n1=64,n2=64,m=64"


def refused(capsys, argv: list[str], limit: str, flag: str) -> str:
    """Run the CLI in-process: exit code 2, one ``Error:`` line naming the limit and the flag."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert f"({limit})" in err and f"narrow the work with {flag}" in err
    return err


def test_the_limits_are_declared():
    for name in ("jacobian.entries", "jacobian.symbolic", "jacobian.size", "stability.depth",
                 "stability.work", "stability.memory", "stability.sweep_runs",
                 "stability.sweep_work", "handout.depth"):
        assert name in DECLARED and DECLARED[name].flag.startswith("--")


# -- handout: a 100,000-unit network is written from small numeric instances ---------------------
WIDE = ["--layers", "100000,100000,1", "--act", "relu,sigmoid", "--loss", "bce"]


def test_handout_of_a_huge_network_is_written(tmp_path, capsys):
    # was: 74.5 GiB asked for (the mistakes section drew the user's full-size instance)
    out = tmp_path / "h.tex"
    assert main(["handout", *WIDE, "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    tex = out.read_text("utf-8")
    assert "sizes 16, 16, 1" in tex and "Wider layers are narrowed" in tex
    assert r"\section{Common mistakes}" in tex and "verdict: shape error" in tex
    assert r"100000 \times 100000" in tex  # the shapes shown are still the user's


def test_handout_plugins_and_exercises_of_a_huge_network(tmp_path, capsys):
    out = tmp_path / "w.tex"
    assert main(["handout", *WIDE, "--sections", "numbers,jacobian,stability", "--exercises",
                 "-o", str(out)]) == 0
    key = (tmp_path / "w-key.tex").read_text("utf-8")
    assert "narrowed to at most 64 units (sizes 64, 64, 1)" in key
    assert r"\section{Vanishing and exploding gradients}" in key
    assert r"\partial Z^{[1]}/\partial W^{[1]}" in key  # the 2×2 Jacobian appendix


def test_handout_api_of_a_huge_network():
    net = Network(layers=[100000, 100000, 1], activations=["relu", "sigmoid"], loss="bce")
    h = handout(net, sections=["verification", "mistakes"])
    assert "sizes 16, 16, 1" in h.tex and "Common mistakes" in h.tex


def test_handout_depth_limit(capsys):
    refused(capsys, ["handout", "--layers", ",".join(["3"] * 62)], "handout.depth", "--layers")
    with pytest.raises(ResourceLimit) as exc:
        handout(Network(depth=61))
    assert exc.value.name == "handout.depth" and exc.value.amount == 61


# -- jacobian: refused before SymPy builds anything -------------------------------------------------
def test_jacobian_cost_by_first_layer_weights_is_refused(capsys):
    # was: past 75 s (the abbreviation walked a 10¹⁶-operation array)
    err = refused(capsys, ["jacobian", "J", "W1", "--sizes", SIZES_64], "jacobian.symbolic",
                  "--sizes")
    assert "∂J/∂W[1] at sizes 64,64,64 and m = 64" in err
    with pytest.raises(ResourceLimit) as exc:
        jacobian("J", "W1", Network(depth=2), {"n0": 64, "n1": 64, "n2": 64, "m": 64})
    assert exc.value.name == "jacobian.symbolic" and exc.value.amount > SYMBOLIC.value


@pytest.mark.parametrize("of,wrt", [("Z2", "W1"), ("A1", "Z1"), ("Z1", "W1")])
def test_jacobian_other_pairs_are_refused(capsys, of, wrt):
    refused(capsys, ["jacobian", of, wrt, "--sizes", SIZES_64], "jacobian.entries", "--sizes")
    refused(capsys, ["jacobian", of, wrt, "--naive", "--sizes", SIZES_64], "jacobian.entries",
            "--sizes")


def test_jacobian_sizes_over_64_are_refused(capsys):
    refused(capsys, ["jacobian", "Z1", "W1", "--sizes", "n0=65"], "jacobian.size", "--sizes")
    refused(capsys, ["jacobian", "Z1", "W1", "--layers", "100000,2"], "jacobian.size", "--sizes")
    with pytest.raises(ResourceLimit) as exc:
        jacobian("Z1", "W1", Network(depth=1), {"n0": 999999})
    assert exc.value.name == SIZE.name


def test_jacobian_just_inside_the_entry_limit_completes(capsys):
    # ∂Z[1]/∂W[1] at n0 = n1 = m = 8: (8·8)·(8·8) = 4096 entries, the limit itself; one more unit
    # of n0 is (8·8)·(8·9) = 4608
    assert ENTRIES.value == 8**4
    r = jacobian("Z1", "W1", Network(depth=1), {"n0": 8, "n1": 8, "m": 8})
    assert r.size == 4096 and r.nonzero == 512  # δᵢₖ: row i of Z[1] uses row i of W[1] only
    with pytest.raises(ResourceLimit, match="4,608 entries"):
        jacobian("Z1", "W1", Network(depth=1), {"n0": 9, "n1": 8, "m": 8})


def test_jacobian_the_symbolic_limit_sits_between_sizes_3_and_4():
    def ops(s: int) -> int:
        net, m = resolve_sizes(Network(depth=2), {"n0": s, "n1": s, "n2": s, "m": s})
        return estimate(parse_quantity("J", net), parse_quantity("W1", net), net, m).operations

    assert ops(2) < ops(3) < SYMBOLIC.value < ops(4) < ops(64)
    r = jacobian("J", "W1", Network(depth=2))  # sizes 2: a legitimate run completes
    assert r.shape == (2, 2) and r.nonzero == 4


@pytest.mark.parametrize("acts,loss,of,wrt", [
    (None, None, "J", "W1"), (None, None, "Z2", "X"), (["tanh", "sigmoid"], "bce", "J", "W2"),
    (["relu", "softmax"], "ce", "J", "Z1"), (None, None, "A2", "A1"), (None, None, "Z1", "W2"),
])
def test_jacobian_estimate_follows_sympy(acts, loss, of, wrt):
    """The estimate's entry size is SymPy's node count of the expression it will differentiate
    (within 15 %), and its count of nonzero entries is exact."""
    base = Network(depth=2) if acts is None else Network(depth=2, activations=acts, loss=loss)
    net, m = resolve_sizes(base, {"n0": 3, "n1": 2, "n2": 3, "m": 2})
    o, w = parse_quantity(of, net), parse_quantity(wrt, net)
    est = estimate(o, w, net, m)
    model = symbolic_model(net, m, cut=w if w.base in ("Z", "A") else None,
                           upto=net.L if o.base == "J" else o.layer, with_cost=o.base == "J")
    value = model.values[o.key]
    outs = [value] if o.base == "J" else list(value)
    size = max(sum(1 for _ in sp.preorder_traversal(y)) for y in outs)
    assert abs(est.size - size) <= 0.15 * size
    r = jacobian(of, wrt, base, {"n0": 3, "n1": 2, "n2": 3, "m": 2})
    assert est.nonzero == r.nonzero and est.entries == r.size


def test_naive_chain_rule_at_the_largest_sizes_completes():
    r = naive_chain_rule(Network(depth=2), None, {"n0": 64, "n1": 64, "n2": 64, "m": 64},
                         example="dW")
    assert r.verdict == "fits_only_here" and r.student_value is not None
    assert r.student_value.shape == (64, 64)
    assert naive_chain_rule(Network(depth=2), example="seed").written == \
        naive_chain_rule(Network(depth=2), example="dZ").written  # the old name still works


# -- stability: the work and memory of a run, estimated before anything is drawn ---------------------
def test_stability_wide_batch_is_refused(capsys):
    # was: 61 s and 3 GB
    refused(capsys, ["stability", "--depth", "8", "--width", "4096", "--batch", "1024"],
            "stability.work", "--depth, --width or --batch")
    with pytest.raises(ResourceLimit) as exc:
        S.analyse(depth=8, width=4096, batch=1024)
    assert exc.value.name == WORK.name and exc.value.amount > WORK.value


def test_stability_memory_and_depth_are_refused(capsys):
    refused(capsys, ["stability", "--depth", "1", "--width", "1", "--batch", "100000000"],
            "stability.memory", "--batch or --width")
    refused(capsys, ["stability", "--depth", "1001"], "stability.depth", "--depth")
    with pytest.raises(ResourceLimit) as exc:
        S.analyse(depth=1000, width=64, batch=4096)  # 1000 × 64 × 4096 stored g′(z): 2.1 GB
    assert exc.value.name == MEMORY.name
    with pytest.raises(ResourceLimit) as exc:
        S.analyse(depth=DEPTH.value + 1, width=1, batch=1)
    assert exc.value.name == DEPTH.name


def test_stability_sweeps_are_bounded_as_a_whole(capsys):
    refused(capsys, ["stability", "--sweep", "--depths", ",".join(map(str, range(10, 140, 10))),
                     "--act", "tanh,relu,sigmoid,linear,elu"], "stability.sweep_runs",
            "--depths, --inits or --act")
    # each run of depth 1000 at width 256 fits, two of them do not
    assert C.estimate(1000, 256, 32, "xavier").operations < WORK.value
    refused(capsys, ["stability", "--sweep", "--depths", "1000", "--width", "256",
                     "--inits", "xavier,he"], "stability.sweep_work", "--depths, --inits")
    with pytest.raises(ResourceLimit) as exc:
        S.sweep(depths=list(range(1, 62)), inits=("xavier",))
    assert exc.value.name == SWEEP_RUNS.name
    with pytest.raises(ResourceLimit) as exc:
        S.sweep(depths=(1000,), inits=("xavier", "he"), width=256)
    assert exc.value.name == SWEEP_WORK.name


def test_stability_sweep_with_a_plot_inside_the_limits(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "s.png"
    assert main(["stability", "--sweep", "--depths", "10,200", "--width", "16", "--act",
                 "tanh,relu", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in capsys.readouterr().out


def test_stability_the_bench_case_fits_and_the_issue_case_does_not():
    assert C.estimate(1000, 256, 32, "xavier").operations < WORK.value  # bench/bench_stability.py
    assert C.estimate(8, 4096, 1024, "xavier").operations > WORK.value  # the issue's case
    assert C.estimate(3, 4096, 1024, "xavier").bytes < MEMORY.value
    # an orthogonal W costs a QR factorisation per draw, at least (2/3)·n³ multiply-adds
    # (Householder) more per layer than a Gaussian one
    extra = C.estimate(30, 1024, 32, "orthogonal").operations - \
        C.estimate(30, 1024, 32, "xavier").operations
    assert extra >= 30 * 2 * 1024**3 // 3


def test_stability_wide_norms_are_taken_in_small_chunks():
    assert norm_chunk(1448, 50) == 8 and norm_chunk(2048, 50) == 4 and norm_chunk(4096, 50) == 1
    assert norm_chunk(4096, 1) == 1 and norm_chunk(64, 3) == 3
    r = S.analyse(depth=2, width=1500, batch=2, init="orthogonal", gain=0.5)
    np.testing.assert_allclose(r.weight_norm, [0.5, 0.5], rtol=1e-9)  # s·Q has ‖·‖₂ = s


def test_stability_kept_and_redrawn_weights_agree(monkeypatch):
    kept = S.analyse(depth=12, width=24, batch=3, seed=3)
    monkeypatch.setattr(S, "keeps_weights", lambda depth, width: False)
    drawn = S.analyse(depth=12, width=24, batch=3, seed=3)
    for field in ("log_grad_norm", "log_grad_norm_example", "jacobian_norm", "weight_norm"):
        np.testing.assert_array_equal(getattr(kept, field), getattr(drawn, field))


def test_stability_memory_estimate_bounds_the_run(monkeypatch):
    """The arrays a run holds at once stay within the estimate (numpy's allocations, traced),
    including when every W is drawn again for the backward pass: each layer's W is freed before
    the next one is drawn."""
    for keep in (True, False):
        monkeypatch.setattr(S, "keeps_weights", lambda depth, width, keep=keep: keep)
        monkeypatch.setattr(C, "keeps_weights", lambda depth, width, keep=keep: keep)
        S.analyse(depth=2, width=4)  # SymPy's homogeneity check and the catalogue, warmed
        tracemalloc.start()
        try:
            S.analyse(depth=20, width=512, batch=4)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= C.estimate(20, 512, 4, "xavier").bytes, keep
