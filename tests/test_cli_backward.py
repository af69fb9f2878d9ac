"""`derive backward` through main(argv), as a user runs it."""

from __future__ import annotations

import json

from derive.cli import main


def test_default_is_the_built_in_example(capsys):
    assert main(["backward"]) == 0
    out = capsys.readouterr().out
    assert "built-in example" in out
    assert "dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])" in out
    assert "Proof: all proven" in out


def test_textbook_dls_formulas(capsys):
    assert main(["backward", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce"]) == 0
    out = capsys.readouterr().out
    for line in [
        "dZ[2] = A[2] − Y",
        "dW[2] = (1/m) dZ[2] A[1]ᵀ",
        "db[2] = (1/m) sum(dZ[2], axis=1)",
        "dW[1] = (1/m) dZ[1] Xᵀ",
    ]:
        assert line in out
    assert "convention columns" in out  # conventions are printed in every output


def test_steps_and_verify(capsys):
    assert main(["backward", "--act", "tanh,sigmoid", "--loss", "bce", "--steps", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "[output_simplification]" in out
    assert "Z[1]ᵢₜ = Σⱼ W[1]ᵢⱼ Xⱼₜ + b[1]ᵢ ⇒ ∂J/∂W[1]ᵢⱼ = (1/m) Σₜ dZ[1]ᵢₜ Xⱼₜ" in out
    assert "exact (" in out and "fd rel. error" in out


def test_json_is_documented_shape(capsys):
    assert (
        main(
            [
                "backward",
                "--layers",
                "4,5,3",
                "--act",
                "tanh,softmax",
                "--loss",
                "ce",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == 1
    assert data["network"] == {
        "layers": [4, 5, 3],
        "activations": ["tanh", "softmax"],
        "loss": "ce",
        "convention": "columns",
        "scale": "mean",
    }
    names = [f["name"] for f in data["formulas"]]
    assert names == ["dA[2]", "dZ[2]", "dW[2]", "db[2]", "dA[1]", "dZ[1]", "dW[1]", "db[1]"]
    dz2 = data["formulas"][1]
    assert dz2["text"] == "dZ[2] = A[2] − Y" and dz2["latex"] == "dZ^{[2]} = A^{[2]} - Y"
    assert dz2["numpy"] == "dZ2 = A2 - Y" and dz2["shape"] == ["3", "m"]
    assert data["proof"]["passed"] is True
    assert {"formula", "elementwise", "fd_relative_error"} <= set(data["proof"]["formulas"][0])


def test_latex_and_markdown(capsys):
    assert main(["backward", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert "\\begin{align*}" in out and "dW^{[1]} &= \\frac{1}{m} dZ^{[1]} X^{\\top}" in out
    assert main(["backward", "--format", "markdown", "--steps"]) == 0
    out = capsys.readouterr().out
    assert "### Layer 2" in out and "$dZ^{[2]} = A^{[2]} - Y$" in out


def test_spec_file_and_rows(tmp_path, capsys):
    f = tmp_path / "net.toml"
    f.write_text(
        'layers = [2, 3, 1]\nactivations = ["tanh", "sigmoid"]\nloss = "bce"\n', encoding="utf-8"
    )
    assert main(["backward", "--spec", str(f), "--convention", "rows"]) == 0
    out = capsys.readouterr().out
    assert "dW[1] = (1/m) Xᵀ dZ[1]" in out


def test_scale_dZ_flag_in_every_format(capsys, tmp_path):
    argv = ["backward", "--layers", "4,5,3", "--act", "relu,softmax", "--loss", "ce",
            "--convention", "rows", "--scale", "dZ"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "dZ[2] = (1/m) (A[2] − Y)" in out and "dW[1] = Xᵀ dZ[1]" in out
    assert "the 1/m sits in dA[L] and dZ[L]" in out and "Proof: all proven" in out
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["network"]["scale"] == "dZ" and data["proof"]["passed"] is True
    assert any("the 1/m sits in dA[L] and dZ[L]" in c for c in data["conventions"])
    assert main([*argv, "--format", "latex"]) == 0
    assert r"dZ^{[2]} &= \frac{1}{m} \left(A^{[2]} - Y\right)" in capsys.readouterr().out
    assert main([*argv, "--format", "markdown"]) == 0
    assert "the 1/m sits in dA[L] and dZ[L]" in capsys.readouterr().out
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [4, 5, 3]\nactivations = ["relu", "softmax"]\nloss = "ce"\n'
                    'scale = "dZ"\n')
    assert main(["backward", "--spec", str(spec)]) == 0
    assert "dW[1] = dZ[1] Xᵀ" in capsys.readouterr().out


def test_dX_goes_on_below_layer_1(capsys):
    # dX = W[1]ᵀ dZ[1] (columns) and dZ[1] W[1]ᵀ (rows): Z = W X + b, so ∂Z/∂X is W's transpose
    base = ["backward", "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce"]
    assert main(base) == 0
    assert "dX" not in capsys.readouterr().out  # training needs no dX: left out by default
    assert main([*base, "--dX"]) == 0
    out = capsys.readouterr().out
    assert "dX = W[1]ᵀ dZ[1]" in out and "Proof: all proven — 9 formulas" in out
    assert main([*base, "--dX", "--convention", "rows", "--json"]) == 0
    last = json.loads(capsys.readouterr().out)["formulas"][-1]
    assert (last["name"], last["numpy"]) == ("dX", "dX = np.dot(dZ1, W1.T)")


def test_latex_output_keeps_the_loss_and_the_notes_as_comments(capsys):
    """The LaTeX form says what the text form says about the network: the loss and each note
    (batch norm's meaning of dZ), as comments the fragment's reader still compiles."""
    from derive.cli import main

    assert main(["backward", "--layers", "3,4,1", "--act", "relu,sigmoid", "--loss", "bce",
                 "--batchnorm", "1", "--format", "latex"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "% loss bce: ℓ = −(y log a + (1 − y) log(1 − a))" in out
    note = next(line for line in out if line.startswith("% note: batch norm on layer 1"))
    assert "not a per-example gradient" in note
    assert out.index(note) < out.index("\\begin{align*}")


def test_a_cnn_or_rnn_spec_given_to_a_dense_command_says_what_it_is(capsys):
    """derive jacobian (a dense network's command) names the spec's family and the commands
    that take it, not the dense reader's "unknown key 'rnn'"."""
    from pathlib import Path

    from derive.cli import main

    root = Path(__file__).resolve().parent.parent
    assert main(["jacobian", "Z1", "W1", "--spec", str(root / "examples/cnn.toml")]) == 2
    err = capsys.readouterr().err
    assert "a CNN spec, for derive backward, gradcheck, numbers and handout" in err
    assert main(["jacobian", "Z1", "W1", "--spec", str(root / "examples/rnn.toml")]) == 2
    assert "an RNN spec ([rnn]), for derive backward" in capsys.readouterr().err
