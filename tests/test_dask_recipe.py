"""The Dask recipe of docs/grading.md: ``derive.grade.check_line`` mapped over a ``dask.bag`` of
JSON Lines on a two-process LocalCluster gives, line for line, what ``check --batch --jobs 1``
prints."""

from __future__ import annotations

import json

import pytest

from derive.cli import main
from derive.grade import check_line

db = pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")

NETS = [{"layers": "3,4,1", "activations": "relu,sigmoid", "loss": "bce"},
        {"layers": [4, 5, 3], "activations": ["tanh", "softmax"], "loss": "ce"}, {}]
EQS = ["dW1 = 1/m * np.dot(dZ1, X.T)", "dW1 = np.dot(dZ1, X.T)", "dZ1 = np.dot(W2.T, dZ2) * A1",
       "db1 = 1/m * np.sum(dZ1, axis=0)", "dZ1 = (((", "dZ2 = A2 - Y"]


@pytest.mark.slow
def test_dask_bag_on_local_cluster_equals_jobs_1(tmp_path, capsys):
    lines = [json.dumps({"id": i, "equation": EQS[i % len(EQS)], **NETS[i % len(NETS)]})
             for i in range(30)]
    lines.insert(5, "not json")
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    main(["check", "--batch", str(src), "--jobs", "1"])
    serial = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        bag = db.read_text(str(src), blocksize=None).map(str.strip).filter(bool).repartition(2)
        results = bag.map(check_line).compute()
    assert results == serial
    assert [r["verdict"] for r in results[:2]] == ["correct", "not_equivalent"]
    assert results[5]["verdict"] == "parse_error"  # a bad line is a result, in its place
