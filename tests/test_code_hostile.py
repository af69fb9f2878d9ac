"""Hostile snippets for `derive check --code`: each ends in a problem naming its line or a limit,
within bounded time and memory (run in a child process capped at 2 GiB of address space, so a
snippet that allocates without bound fails the test instead of the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAD = "def softmax_loss_naive(W, X, y, reg):\n"
TAIL = ("    dW = np.zeros_like(W)\n    loss = 0.0\n    for i in range(X.shape[0]):\n"
        "        loss += 1.0\n    return loss, dW\n")

BODIES = {
    "sorted range": "s = sorted(range(10**9))",
    "sum range": "s = sum(range(10**12))",
    "reversed range": "s = list(reversed(range(10**9)))",
    "comprehension": "s = [a for a in range(10**9)]",
    "zip ranges": "s = max(zip(range(10**9), range(10**9)))",
    "enumerate": "s = dict(enumerate(range(10**9)))",
    "repeated string": "s = 'a' * 10**10",
    "repeated list": "s = [0] * 10**10",
    "huge power": "k = 10 ** 10 ** 8",
    "squaring ints": "x = 2\n    for i in range(40):\n        x = x * x",
    "squaring arrays": "x = X\n    for i in range(40):\n        x = x * x",
    "vstack": "x = np.ones(1000000)\n    z = np.vstack([x] * 1000)",
    "concatenate": "x = np.ones(1000)\n    for i in range(40):\n        x = np.concatenate([x, x])",
    "broadcast": "x = np.ones((100000, 1))\n    z = x * x.T",
    "outer": "x = np.ones(100000)\n    z = np.outer(x, x)",
    "arange": "s = np.arange(10**12)",
    "ones": "s = np.ones((10**6, 10**6))",
    "dunder": "s = W.__class__",
    "getattr": "s = getattr(W, 'T')",
    "while": "while True:\n        pass",
    "lambda": "s = (lambda: 1)()",
    "import": "import os",
}

CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
    import derive
    net = derive.Network(layers=[3, 2], activations=["softmax"], loss="ce", convention="rows")
    out = {}
    for key, code in json.loads(sys.stdin.read()).items():
        d = derive.check_code(code, net).to_dict()
        out[key] = d["problems"]
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def problems() -> dict:
    codes = {k: HEAD + "    " + body + "\n" + TAIL for k, body in BODIES.items()}
    p = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(codes), text=True,
                       capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.mark.parametrize("key", sorted(BODIES))
def test_hostile_snippet_is_a_problem_with_its_line(problems, key):
    found = problems[key]
    assert found, f"{key}: no problem reported"
    text = " ".join(found)
    assert "line 2" in text or "line 3" in text or "line 4" in text or "limit" in text, text


# -- what the summary claims ------------------------------------------------------------------------
LINEAR = ("def linear_backward(dZ, cache):\n    A_prev, W, b = cache\n    m = A_prev.shape[1]\n"
          "    dW = 1 / m * np.dot(dZ, A_prev.T)\n    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)\n"
          "    dA_prev = np.dot(W.T, dZ)\n    return dA_prev, dW, db\n")


def test_a_part_that_cannot_be_read_is_not_a_pass():
    import derive

    net = derive.Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
    whole = derive.check_code(LINEAR, net, layer=2)
    assert whole.verdict == "correct" and whole.exit_code == 0
    part = derive.check_code(LINEAR + "\ndef other(W):\n    while True:\n        pass\n", net,
                             layer=2)
    assert [r.verdict.verdict for r in part.results] == ["correct"] * 3
    assert part.problems and part.verdict == "parse_error" and part.exit_code == 2


def test_a_bug_in_one_function_keeps_the_others(monkeypatch):
    import derive
    from derive.code import checking

    real = checking._check_unit

    def buggy(src, functions, fname, *args):
        if fname == "other":
            raise ZeroDivisionError("planted")
        return real(src, functions, fname, *args)

    monkeypatch.setattr(checking, "_check_unit", buggy)
    net = derive.Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
    out = derive.check_code(LINEAR + "\ndef other(W):\n    dW = W\n    return dW\n", net, layer=2)
    assert [r.name for r in out.results] == ["dW", "db", "dA_prev"]
    assert out.verdict == "internal_error" and out.exit_code == 3
    assert any("function other: a bug in derive" in p and "planted" in p for p in out.problems)
