"""The command line's contract, replayed as a careless user and an autograder would hit it:
batch files as bytes (bad UTF-8, BOM, CR, lone surrogates, line separators), the output file
being the input, a full disk, a closed pipe, signals, internal errors, usage errors, stdin, the
shell completion and the help text.

Most cases run the real ``derive`` in a subprocess: pipes, signals, descriptors and exit codes
are the point here, and in-process calls would not see them.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import derive
from derive.cli import build_parser, main

NET = {"layers": "4,3,2", "activations": "tanh,sigmoid", "loss": "bce"}
GOOD = json.dumps({"equation": "dW1 = (1/m) * np.dot(dZ1, X.T)", **NET})
WRONG = json.dumps({"equation": "dW1 = np.dot(dZ1, X.T)", **NET})


def derive_cmd(*args: str, **kw) -> subprocess.CompletedProcess:
    """``derive ARGS`` in a subprocess (the same interpreter, so the same installed package)."""
    kw.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "derive", *args], timeout=120, **kw)


def no_traceback(stderr: bytes | str) -> bool:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return "Traceback" not in text and "Exception ignored" not in text


def results(stdout: bytes) -> list[dict]:
    """Parse JSON Lines strictly: UTF-8, ``\\n`` line ends only, one object a line."""
    text = stdout.decode("utf-8")  # raises on anything that is not UTF-8
    assert text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


# -- batch files as bytes ---------------------------------------------------------------------------
HOSTILE_LINES = [
    b"\xef\xbb\xbf" + GOOD.encode(),                       # a BOM on line 1
    GOOD.encode() + b"\r",                                 # a CRLF line end
    b'{"equation": "dW1 = np.dot(dZ1, X.T)\rx"}',          # a lone CR inside a line
    b'{"id": "latin1", "equation": "dW1 = \xe9"}',         # not UTF-8
    b'{"id": "sur", "equation": "\\ud800"}',               # a lone surrogate, escaped in JSON
    '{"id": "sep", "equation": "dW1 = \u2028 X \u0085"}'.encode(),  # raw line separators
    b"",                                                   # an empty line
    b"\xff\xfe\x00",                                       # junk bytes
    WRONG.encode(),
]


def test_hostile_batch_bytes_give_one_valid_result_per_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(HOSTILE_LINES) + b"\n")
    run = derive_cmd("check", "--batch", str(src))
    assert no_traceback(run.stderr) and run.stderr == b""
    res = results(run.stdout)
    assert len(res) == len(HOSTILE_LINES)
    verdicts = [r["verdict"] for r in res]
    assert verdicts[:3] == ["correct", "correct", "parse_error"]
    assert verdicts[-1] == "not_equivalent"
    assert "line 4 is not UTF-8" in res[3]["message"] and "0xe9" in res[3]["message"]
    assert "line 8 is not UTF-8" in res[7]["message"]
    assert res[4]["id"] == "sur" and res[4]["verdict"] == "parse_error"
    assert res[5]["id"] == "sep"
    # the output never carries a raw character a JSON Lines reader could take for a line end
    for raw in ("\u2028", "\u2029", "\u0085", "\r"):
        assert raw.encode() not in run.stdout
    assert run.returncode == 2  # the worst line: unusable input


def test_lone_surrogate_in_the_middle_does_not_stop_the_batch(tmp_path):
    """The issue's reproduction: the line after the surrogate is still checked."""
    src = tmp_path / "s.jsonl"
    src.write_text('{"equation":"dZ2 = A2 - Y"}\n{"equation":"\\ud800"}\n'
                   '{"equation":"dZ2 = A2 - Y"}\n', encoding="utf-8")
    run = derive_cmd("check", "--batch", str(src))
    res = results(run.stdout)
    assert len(res) == 3 and res[0] == res[2] and res[1]["verdict"] == "parse_error"
    assert no_traceback(run.stderr)


def test_batch_from_stdin_as_bytes_under_a_strict_locale(tmp_path):
    lines = [GOOD.encode()] * 60 + [b'{"equation": "dW1 = \xe9"}'] + [GOOD.encode()] * 5
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii",
           "PYTHONUTF8": "0"}
    run = derive_cmd("check", "--batch", "-", input=b"\n".join(lines) + b"\n", env=env)
    res = results(run.stdout)
    assert len(res) == 66 and res[60]["verdict"] == "parse_error"
    assert [r["verdict"] for r in res[61:]] == ["correct"] * 5
    assert no_traceback(run.stderr)


def test_a_huge_line_is_one_parse_error_and_the_batch_goes_on(tmp_path):
    from derive.cli.check import LINE_LIMIT

    src = tmp_path / "in.jsonl"
    with src.open("wb") as f:
        f.write(GOOD.encode() + b"\n" + b"x" * (LINE_LIMIT + 10) + b"\n" + GOOD.encode() + b"\n")
    run = derive_cmd("check", "--batch", str(src))
    res = results(run.stdout)
    assert [r["verdict"] for r in res] == ["correct", "parse_error", "correct"]
    assert "over the limit" in res[1]["message"]


# -- the output file --------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["same", "dot", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, how):
    src = tmp_path / "in.jsonl"
    data = (GOOD + "\n" + WRONG + "\n").encode()
    src.write_bytes(data)
    out = {"same": src, "dot": Path("in.jsonl"), "symlink": tmp_path / "link.jsonl",
           "hardlink": tmp_path / "hard.jsonl"}[how]
    if how == "symlink":
        out.symlink_to(src)
    if how == "hardlink":
        os.link(src, out)
    run = derive_cmd("check", "--batch", str(src), "-o", str(out), cwd=tmp_path)
    assert run.returncode == 2 and run.stdout == b""
    assert b"that is the input file" in run.stderr and no_traceback(run.stderr)
    assert src.read_bytes() == data


def test_output_replaces_the_old_file_whole_and_leaves_no_temporary(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(GOOD + "\n" + WRONG + "\n", encoding="utf-8")
    out.write_text("old results\n", encoding="utf-8")
    run = derive_cmd("check", "--batch", str(src), "-o", str(out))
    assert run.returncode == 1 and run.stdout == b""
    assert [r["verdict"] for r in results(out.read_bytes())] == ["correct", "not_equivalent"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_an_unwritable_output_leaves_the_old_file(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD + "\n", encoding="utf-8")
    run = derive_cmd("check", "--batch", str(src), "-o", str(tmp_path / "no" / "such" / "o.jsonl"))
    assert run.returncode == 2 and b"cannot write" in run.stderr and no_traceback(run.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [
    ["check", "dZ2 = A2 - Y", "--json"],
    ["backward", "--steps"],
    ["rules"],
])
def test_a_full_disk_on_stdout_is_a_clean_error(argv):
    with open("/dev/full", "wb") as full:
        run = derive_cmd(*argv, stdout=full, stderr=subprocess.PIPE, capture_output=False)
    assert run.returncode == 2
    assert run.stderr.decode().strip() == "Error: cannot write the output: No space left on device"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_as_the_output_file_is_a_clean_error(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD + "\n", encoding="utf-8")
    run = derive_cmd("check", "--batch", str(src), "-o", "/dev/full")
    assert run.returncode == 2 and no_traceback(run.stderr)
    assert b"cannot write /dev/full: No space left on device" in run.stderr
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")  # still the device


# -- closed pipes and signals -----------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["backward", "--steps"],
    ["check", "dZ2 = A2 - Y", "--act", "relu,sigmoid", "--loss", "bce"],
    ["stability", "--depth", "30"],
    ["rules"],
])
def test_a_closed_pipe_ends_quietly(argv):
    """``derive ... | head -1``: the reader goes away after one line; no traceback, exit 141."""
    proc = subprocess.Popen([sys.executable, "-m", "derive", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) in (0, 141)  # 0 when everything fit in the pipe's buffer
    assert err == b""


def test_a_closed_pipe_during_a_batch(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text((GOOD + "\n") * 3000, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "derive", "check", "--batch", str(src)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    json.loads(proc.stdout.readline())
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == b""


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_keeps_the_finished_lines(tmp_path, sig, code):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"id": i, **json.loads(GOOD)}) + "\n"
                           for i in range(5000)), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "derive", "check", "--batch", str(src),
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the batch has written some lines
        temporaries = [p for p in tmp_path.iterdir() if p.name.startswith(".derive-")]
        if temporaries and temporaries[0].stat().st_size > 1000:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and no_traceback(err)
    written = results(out.read_bytes())
    assert 0 < len(written) < 5000
    assert [r["id"] for r in written] == list(range(len(written)))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".derive-")]


# -- exit codes and messages ------------------------------------------------------------------------
def test_an_internal_error_is_exit_3_with_one_line(monkeypatch, capsys):
    import derive.cli.backward as cmd

    def broken(args):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(cmd, "run", broken)
    assert main(["backward"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "ZeroDivisionError" in err
    assert "Traceback" not in err
    with pytest.raises(ZeroDivisionError):  # --debug: the traceback, for a bug report
        main(["backward", "--debug"])


def test_usage_errors_show_the_commands_usage(capsys):
    assert main(["check", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: derive check") and "Error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("argv,needle", [
    (["backward", "--seed", "-1"], "--seed: -1 is out of range"),
    (["gradcheck", "--seed", "1e3"], "'1e3' is not a whole number"),
    (["handout", "--format", "pdf"], "invalid choice: 'pdf'"),
    (["check", "--json", "--format", "text", "dZ2 = A2 - Y"], "not allowed with argument"),
])
def test_bad_flag_values_are_usage_errors(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.startswith(f"usage: derive {argv[0]}")


@pytest.mark.parametrize("fmt", ["tex", "latex", "md", "markdown", "json"])
def test_format_names_are_the_same_everywhere(fmt, capsys):
    assert main(["backward", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        assert json.loads(out)["network"]["layers"] == [3, 3, 1]
    else:
        assert ("**Network:**" in out) == (fmt in ("md", "markdown"))
        assert ("\\[" in out or "\\begin{" in out) == (fmt in ("tex", "latex"))


@pytest.mark.parametrize("argv", [["backward"], ["check", "dZ2 = A2 - Y"], ["rules"],
                                  ["numbers", "--help"]])
def test_json_flag_on_every_command(argv, capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._actions[-1])))
    for name, p in sub.choices.items():
        flags = {o for a in p._actions for o in a.option_strings}
        if name != "completion":
            assert "--json" in flags and "--format" in flags, name
    if argv[-1] != "--help":
        assert main([*argv, "--json"]) in (0, 1)
        json.loads(capsys.readouterr().out)


def test_check_reads_the_equation_from_stdin():
    run = derive_cmd("check", "-", "--json", input=b"dZ2 = A2 - Y\n",
                     )
    assert run.returncode == 1 and json.loads(run.stdout)["target"] == "dZ[2]"
    run = derive_cmd("check", "-", "--act", "relu,sigmoid", "--loss", "bce",
                     input="\ufeffdZ2 = A2 - Y\r\n".encode())
    assert run.returncode == 0 and run.stdout.startswith(b"correct")
    run = derive_cmd("check", "-", input=b"dZ2 = \xff")
    assert run.returncode == 2 and b"not UTF-8" in run.stderr and no_traceback(run.stderr)


def test_a_name_that_cannot_be_encoded_is_not_a_crash():
    """An argument with bytes that are not UTF-8 reaches Python as lone surrogates."""
    run = subprocess.run([sys.executable, "-m", "derive", "check", b"dZ2 = A2 \xff Y"],
                         capture_output=True, timeout=120)
    assert run.returncode == 2 and no_traceback(run.stderr)


# -- help, API, completion --------------------------------------------------------------------------
def test_help_speaks_the_users_language():
    parser = build_parser()
    texts = [parser.format_help()]
    sub = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    texts += [p.format_help() for p in sub.choices.values()]
    for text in texts:
        for jargon in ("seed 00", "--example seed", "derive.parse", "Namespace"):
            assert jargon not in text


def test_dir_shows_the_api_only():
    names = dir(derive)
    assert names == sorted([*derive.__all__, "__version__"])
    assert not {"importlib", "sys", "types", "annotations", "_EXPORTS"} & set(names)
    for name in derive.__all__:
        assert getattr(derive, name) is not None


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_offers_every_command_and_flag(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    parser = build_parser()
    sub = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    for name, p in sub.choices.items():
        assert name in script
        for action in p._actions:
            for flag in action.option_strings:
                assert flag in script, (name, flag)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes():
    script = derive_cmd("completion", "bash").stdout.decode()
    probe = script + (
        '\nCOMP_WORDS=(derive che); COMP_CWORD=1; _shtab_derive; echo "${COMPREPLY[@]}"'
        '\nCOMP_WORDS=(derive check --convention ""); COMP_CWORD=3; _shtab_derive; '
        'echo "${COMPREPLY[@]}"\n')
    run = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.stdout.splitlines() == ["check", "columns rows"]


def test_a_bug_on_one_batch_line_is_internal_error_and_the_batch_goes_on(tmp_path, monkeypatch,
                                                                          capsys):
    checker = importlib.import_module("derive.check.checker")

    real = checker.check

    def flaky(equation, *args, **kw):
        if "X.T" in equation and "1/m" not in equation:
            raise ZeroDivisionError("planted")
        return real(equation, *args, **kw)

    monkeypatch.setattr(checker, "check", flaky)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([GOOD, WRONG, "[" * 100_000, GOOD]) + "\n", encoding="utf-8")
    assert main(["check", "--batch", str(src)]) == 3
    res = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["verdict"] for r in res] == ["correct", "internal_error", "parse_error", "correct"]
    assert "ZeroDivisionError: planted" in res[1]["message"] and "bug" in res[1]["message"]
    assert "nested too deeply" in res[2]["message"]
