"""--jobs N: the same output as --jobs 1, in input order, for derive check --batch and grade."""

from __future__ import annotations

import json

from derive.cli import main

NETS = [{"layers": "3,4,1", "activations": "relu,sigmoid", "loss": "bce"},
        {"layers": [4, 5, 3], "activations": ["tanh", "softmax"], "loss": "ce"}, {}]
EQS = ["dW1 = 1/m * np.dot(dZ1, X.T)", "dW1 = np.dot(dZ1, X.T)", "dZ1 = np.dot(W2.T, dZ2) * A1",
       "db1 = 1/m * np.sum(dZ1, axis=0)", "dZ1 = (((", "dZ2 = A2 - Y"]


def test_check_batch_jobs_2_equals_jobs_1(tmp_path, capsys):
    lines = [json.dumps({"id": i, "equation": EQS[i % len(EQS)], **NETS[i % len(NETS)]})
             for i in range(40)]
    lines.insert(7, "not json")
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    outs = []
    for jobs in ("1", "2"):
        code = main(["check", "--batch", str(tmp_path / "in.jsonl"), "--jobs", jobs])
        outs.append((code, capsys.readouterr().out))
    assert outs[0] == outs[1]
    results = [json.loads(line) for line in outs[1][1].splitlines()]
    assert len(results) == 41 and results[7]["verdict"] == "parse_error"
    assert [r["id"] for r in results if "id" in r] == list(range(40))  # input order kept


def test_grade_jobs_2_equals_jobs_1(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(
        '[network]\nlayers = [3, 4, 1]\nactivations = ["relu", "sigmoid"]\nloss = "bce"\n'
        '[[question]]\nid = "q1"\ntarget = "dW[1]"\npoints = 2\n', encoding="utf-8")
    paths = []
    for i in range(6):
        p = tmp_path / f"s{i}.json"
        p.write_text(json.dumps({"q1": EQS[i % 2]}), encoding="utf-8")
        paths.append(str(p))
    outs = []
    for jobs in ("1", "2"):
        main(["grade", "--rubric", str(tmp_path / "r.toml"), *paths, "--json", "--jobs", jobs])
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert [json.loads(x)["score"] for x in outs[1].splitlines()] == [2, 0, 2, 0, 2, 0]
