"""`derive backward` on a CNN spec as a user meets it: the formats, the flags it takes, the ones
it refuses (a dense network's flag would change nothing and is an error naming it)."""

from __future__ import annotations

import json
import re

import pytest

from derive.cli import main
from derive.conv.spec import EXAMPLE


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "cnn.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("flags, flag", [
    (["--scale", "sum"], "--scale"), (["--l2", "0.1"], "--l2"), (["--convention", "rows"], "--convention"),
    (["--keep-prob", "0.8"], "--keep-prob"),
])
@pytest.mark.parametrize("given", ["spec", "example"])
def test_a_dense_networks_flag_is_refused_naming_it(spec, capsys, flags, flag, given):
    where = ["--spec", spec] if given == "spec" else ["--example", "cnn"]
    assert main(["backward", *where, *flags]) == 2
    err = capsys.readouterr().err
    assert f"{flag} is for a dense network and is not taken with it" in err
    assert (spec if given == "spec" else "example cnn") in err


def test_dX_is_taken_and_always_derived(spec, capsys):
    assert main(["backward", "--spec", spec, "--dX"]) == 0
    with_flag = capsys.readouterr().out
    assert main(["backward", "--spec", spec]) == 0
    without = capsys.readouterr().out  # the same, its proofs now from the cache
    assert re.sub(r"; proven \(cached, [0-9-]+\)", "", without) == with_flag
    assert "dX = crop(fullconv(dilate(dZ[1], 2), W[1]), 1)" in with_flag


def test_markdown_has_a_table_per_layer_with_the_latex_formulas(spec, capsys):
    assert main(["backward", "--spec", spec, "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("**CNN:** input 6×6×2 per example; conv2d(3 filters 3×3")
    assert [line for line in md.splitlines() if line.startswith("### ")] == [
        "### Layer 4 (dense(3, softmax))", "### Layer 3 (flatten)",
        "### Layer 2 (pool(max 2×2, stride 1))",
        "### Layer 1 (conv2d(3 filters 3×3, stride 2, pad 1, relu))"]
    assert (r"| $dW^{[1]} = \frac{1}{m}\, \operatorname{corr}^{W}_{s=2}\left(\operatorname{pad}_{1}"
            r"\left(X\right),\, dZ^{[1]}\right)$ | 3×3×2×3 | `conv_weight_gradient` |") in md
    assert md.rstrip().splitlines()[-1].startswith("**Proof:** all proven — 12 formulas")
    assert main(["backward", "--spec", spec, "--format", "markdown", "--steps"]) == 0
    steps = capsys.readouterr().out
    assert steps.count("```python") == 12 and "dA_prev_pad[i, vert_start:vert_end" in steps


def test_json_says_how_many_proofs_came_from_the_cache(spec, capsys):
    assert main(["backward", "--spec", spec, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["proof"]["cached"] is None
    assert main(["backward", "--spec", spec, "--json"]) == 0
    cached = json.loads(capsys.readouterr().out)["proof"]["cached"]
    assert cached["formulas"] == 12 and cached["oldest"].startswith("20")


def test_load_cnn_takes_a_path_as_well_as_the_text(spec, tmp_path):
    from pathlib import Path

    from derive.conv import load_cnn
    from derive.errors import SpecError

    assert load_cnn(Path(spec)) == load_cnn(EXAMPLE) == load_cnn(spec)  # a str naming a .toml file
    with pytest.raises(SpecError, match=r"no such spec file|cannot read|not found|No such file"):
        load_cnn(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text('input = [4, 4, 1]\n[[layer]]\nkind = "flatten"\n', encoding="utf-8")
    with pytest.raises(SpecError, match=rf"{bad}: layer 1 \(flatten\): the last layer must be dense"):
        load_cnn(bad)
