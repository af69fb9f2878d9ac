"""``derive check --batch``: JSON Lines in, one JSON result per line out, in order; a bad line gives
a parse_error result and the batch goes on; the exit code is the worst verdict."""

from __future__ import annotations

import json

import pytest

from derive.cli import main
from derive.cli.check import check_line

NET = {"layers": "4,3,2", "activations": "tanh,sigmoid", "loss": "bce"}
GOOD = {"id": "a", "equation": "dW1 = (1/m) * np.dot(dZ1, X.T)", **NET}
WRONG = {"id": "b", "equation": "dW1 = np.dot(dZ1, X.T)", **NET}  # 1/m missing
SHAPE = {"id": 3, "equation": "dZ1 = np.dot(dZ2, W2.T) * (1 - np.power(A1, 2))", **NET}


def write(tmp_path, lines) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def run(tmp_path, lines, capsys, *extra):
    code = main(["check", "--batch", write(tmp_path, lines), *extra])
    out = capsys.readouterr()
    return code, [json.loads(x) for x in out.out.splitlines()], out.err


def test_results_in_order_with_ids(tmp_path, capsys):
    code, res, err = run(tmp_path, [json.dumps(GOOD), json.dumps(WRONG), json.dumps(SHAPE)], capsys)
    assert [r["id"] for r in res] == ["a", "b", 3]
    assert [r["verdict"] for r in res] == ["correct", "not_equivalent", "shape_error"]
    assert res[1]["mistakes"][0]["code"] == "missing_scale"
    assert res[2]["mistakes"][0]["code"] == "wrong_order"
    assert code == 1
    assert err == ""  # no progress bar when stderr is not a terminal


def test_bad_line_in_the_middle_does_not_stop_the_batch(tmp_path, capsys):
    lines = [json.dumps(GOOD), "{not json", json.dumps({"id": 7, "layers": "3,3,1"}),
             json.dumps({"id": 8, "equation": "dW1 = np.dot(dZ1, X.T)", "activations": "nope,relu"}),
             json.dumps({"id": 9, "equation": "dZ1 = W2^T dZ2 *", **NET}),
             json.dumps(GOOD)]
    code, res, _ = run(tmp_path, lines, capsys)
    assert len(res) == len(lines)
    assert [r["verdict"] for r in res] == ["correct", "parse_error", "parse_error", "parse_error",
                                           "parse_error", "correct"]
    assert "JSON" in res[1]["message"]
    assert res[2]["id"] == 7 and "equation" in res[2]["message"]
    assert res[3]["id"] == 8 and "nope" in res[3]["message"]
    assert res[4]["position"] is not None
    assert code == 2


def test_all_correct_exits_zero_and_unknown_fields_are_ignored(tmp_path, capsys):
    line = json.dumps({**GOOD, "student": "x", "extra": [1, 2]})
    code, res, _ = run(tmp_path, [line, line], capsys)
    assert code == 0 and [r["verdict"] for r in res] == ["correct", "correct"]


def test_layers_as_list_and_generic_network(tmp_path, capsys):
    lines = [json.dumps({"equation": "dA1 = np.dot(W2.T, dZ2)", "layers": [4, 3, 2],
                         "activations": ["relu", "softmax"], "loss": "ce"}),
             json.dumps({"equation": "dZ1 = np.dot(W2.T, dZ2) * g1'(Z1)"}),
             json.dumps({"equation": "db1 = np.sum(dZ1, axis=0, keepdims=True)",
                         "convention": "rows", "scale": "sum"})]
    code, res, _ = run(tmp_path, lines, capsys)
    assert [r["verdict"] for r in res] == ["correct", "correct", "correct"]
    assert "id" not in res[0]
    assert code == 0


def test_output_file_is_written_line_by_line(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    code = main(["check", "--batch", write(tmp_path, [json.dumps(GOOD), json.dumps(WRONG)]),
                 "-o", str(out)])
    assert capsys.readouterr().out == ""
    res = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["verdict"] for r in res] == ["correct", "not_equivalent"]
    assert code == 1


def test_check_line_never_raises():
    for line in ["", "[]", "null", '{"equation": 5}', '{"equation": "x", "layers": 5}',
                 '{"equation": "dW1 = X", "syntax": "cobol"}', '{"equation": "dZ1 = __import__(\'os\')"}']:
        r = check_line(line)
        assert r["verdict"] == "parse_error", line


@pytest.mark.parametrize("bad", [["check", "--batch", "/nonexistent/in.jsonl"],
                                 ["check", "dW1 = X", "--batch", "x.jsonl"],
                                 ["check"], ["check", "dW1 = 1/m dZ1 X^T", "-o", "out.jsonl"]])
def test_usage_errors_exit_2(bad, capsys):
    """Exit 2 with one ``Error:`` line; a command line that cannot be run also shows the
    command's usage (an unreadable file is not a usage error)."""
    assert main(bad) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("Error: ")] == [err[-1]]
    assert err[0].startswith("usage: derive check") == (bad[1:2] != ["--batch"])


def test_progress_bar_only_on_a_terminal(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, res, err = run(tmp_path, [json.dumps(GOOD), json.dumps(GOOD)], capsys)
    assert code == 0 and len(res) == 2
    assert "2/2" in err and "#" in err


def test_interrupted_batch_keeps_complete_lines(tmp_path, capsys, monkeypatch):
    import derive.cli._batch as cli_batch

    real = cli_batch.check_line
    calls = []

    def flaky(line, default_syntax="auto"):
        calls.append(line)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(line, default_syntax)

    monkeypatch.setattr(cli_batch, "check_line", flaky)  # the batch half of derive check
    out = tmp_path / "out.jsonl"
    lines = [json.dumps({**GOOD, "id": i}) for i in range(5)]
    assert main(["check", "--batch", write(tmp_path, lines), "-o", str(out)]) == 130
    written = out.read_text(encoding="utf-8")
    assert written.endswith("\n")
    assert [json.loads(x)["id"] for x in written.splitlines()] == [0, 1]


def test_loss_alone_gives_a_generic_network_with_that_loss(capsys):
    """--loss bce without activations: generic g[l], so A − Y is not implied (dZ[L] needs σ)."""
    assert main(["check", "dW1 = 1/m dZ1 X^T", "--loss", "bce", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["network"]["loss"] == "bce"
