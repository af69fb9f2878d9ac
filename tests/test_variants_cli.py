"""``derive variants`` and ``derive grade --student`` end to end, in tmp folders.

The networks expected are drawn here again from the keyed hash (HMAC-SHA256, written out in this
file); each key's answers are read back by the parser and valued against autograd's gradients
(tests/oracle.py) on the student's own network; a sheet must hold none of its answers (in text,
LaTeX or numpy form, spacing and braces aside); the same id and secret give the same files byte
for byte, another secret another network for most ids; the self-test passes on a sound rubric and
fails, naming the code, on one whose partial credit cannot be earned; hostile ids are refused by
line, before anything is written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from derive.cli import main
from derive.engine.backward import derive
from derive.engine.values import forward_env
from derive.network.model import random_instance
from derive.network.spec import Network
from derive.parse import parse_equation
from tests import oracle
from tests.rubrics import VARIANTS, write_rubric

SECRET = "s3cret-course-key-2026"
IDS = ["s001", "s002", "ada.lovelace", "B-17_x"]
HIDDEN = ["relu", "tanh", "sigmoid", "leaky_relu"]  # VARIANTS' choices for layer 1


def drawn(sid: str, secret: str) -> Network:
    """The network VARIANTS gives ``sid``, from the keyed hash as docs/grading.md defines it."""
    def pick(label: str, n: int) -> int:
        mac = hmac.new(secret.encode(), f"{sid}\x00{label}".encode(), hashlib.sha256).digest()
        return int.from_bytes(mac, "big") % n

    sizes = [2 + pick("size0", 5), 2 + pick("size1", 5), 1]
    return Network(layers=sizes, activations=[HIDDEN[pick("act0", 4)], "sigmoid"], loss="bce")


@pytest.fixture
def course(tmp_path):
    rubric = write_rubric(tmp_path, VARIANTS)
    ids = tmp_path / "ids.txt"
    ids.write_text("# week 4\n" + "\n".join(IDS) + "\n\n", encoding="utf-8")
    return tmp_path, rubric, ids


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def write(capsys, root, rubric, ids, out: str = "out", secret: str = SECRET):
    code, stdout, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                            "-o", str(root / out), "--secret", secret)
    assert code == 0, err
    assert secret not in stdout + err
    return root / out


# -- the files ----------------------------------------------------------------------------------
def test_sheets_and_keys_are_written_for_each_student_on_their_network(course, capsys):
    root, rubric, ids = course
    out = write(capsys, root, rubric, ids)
    for sid in IDS:
        net = drawn(sid, SECRET)
        for path in (f"sheets/{sid}.tex", f"sheets/{sid}.md", f"keys/{sid}.json", f"keys/{sid}.md"):
            assert (out / path).is_file(), path
        sheet = (out / "sheets" / f"{sid}.md").read_text(encoding="utf-8")
        assert f"sizes {','.join(map(str, net.layers))}; activations " \
               f"{net.activations[0]}, sigmoid; loss bce" in sheet
        key = json.loads((out / "keys" / f"{sid}.json").read_text(encoding="utf-8"))
        assert key["_student"] == sid and sorted(key) == ["_student", "q1", "q2", "q3", "q4"]
        d = derive(net)
        assert key["q3"] == d.formula("dZ", 1).text  # the engine's formula, as derived
        assert d.proof.passed
        assert SECRET not in "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.*"))


@pytest.mark.parametrize("sid", IDS)
def test_each_key_has_autograds_values(course, capsys, sid):
    """The key's answers, read back by the parser, valued on a random instance of the student's
    network: dW[1], db[1] are ∂J/∂W[1], ∂J/∂b[1]; dZ[1], dA[1] are m ∂J/∂Z[1], m ∂J/∂A[1]."""
    root, rubric, ids = course
    out = write(capsys, root, rubric, ids)
    key = json.loads((out / "keys" / f"{sid}.json").read_text(encoding="utf-8"))
    net = drawn(sid, SECRET)
    inst = random_instance(net, seed=5)
    env = forward_env(net, inst)
    d = derive(net, prove=False)
    from derive.core.expr import evaluate
    from derive.network import model

    backend = model.numpy_backend(net, inst.m, inst.sizes)
    for f in d.formulas:  # the upstream gradients the answers are written in
        env[f.kind, f.layer] = evaluate(f.expr, env, backend)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    ref = oracle.param_gradients(net, params, inst.X, inst.Y)
    want = {"q1": ref["W1"], "q2": ref["b1"],
            "q3": inst.m * oracle.intermediate_gradient(net, "Z", 1, env["Z", 1], params,
                                                         inst.X, inst.Y),
            "q4": inst.m * oracle.intermediate_gradient(net, "A", 1, env["A", 1], params,
                                                         inst.X, inst.Y)}
    for qid, value in want.items():
        got = evaluate(parse_equation(key[qid], net).rhs, env, backend)
        np.testing.assert_allclose(got, value, rtol=1e-9, atol=1e-12, err_msg=qid)


# -- the leak test ---------------------------------------------------------------------------------
def _squeeze(s: str) -> str:
    return re.sub(r"[\s{}]|\\[,;!]", "", s)


def answers_in(key_md: str) -> list[str]:
    """The right sides of a key's answers as it prints them: LaTeX ($$...$$), text, numpy."""
    forms = re.findall(r"^\$\$[^=]*=(.*)\$\$$", key_md, re.M)
    forms += re.findall(r"^- (?:text|numpy): `[^=]*=(.*)`$", key_md, re.M)
    return [f.strip() for f in forms]


def shown(sheet: str, forms: list[str]) -> list[str]:
    text = _squeeze(sheet)
    return [f for f in forms if len(_squeeze(f)) > 2 and _squeeze(f) in text]


def test_no_sheet_shows_its_answers(course, capsys):
    root, rubric, ids = course
    out = write(capsys, root, rubric, ids)
    for sid in IDS:
        forms = answers_in((out / "keys" / f"{sid}.md").read_text(encoding="utf-8"))
        assert len(forms) == 12  # four questions, three forms each
        for ext in ("tex", "md"):
            assert shown((out / "sheets" / f"{sid}.{ext}").read_text(encoding="utf-8"), forms) == []


def test_the_leak_test_finds_a_planted_answer(course, capsys):
    root, rubric, ids = course
    out = write(capsys, root, rubric, ids)
    forms = answers_in((out / "keys" / "s001.md").read_text(encoding="utf-8"))
    sheet = (out / "sheets" / "s001.tex").read_text(encoding="utf-8")
    latex = next(f for f in forms if "\\" in f)
    planted = sheet.replace(r"\end{document}", f"Hint: ${latex}$\n\\end{{document}}")
    assert shown(planted, forms) == [latex]


# -- determinism -----------------------------------------------------------------------------------
def test_same_id_and_secret_same_files_byte_for_byte(course, capsys):
    root, rubric, ids = course
    a, b = write(capsys, root, rubric, ids, "a"), write(capsys, root, rubric, ids, "b")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 4 * len(IDS)
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_another_secret_gives_most_students_another_network(tmp_path, capsys):
    rubric = write_rubric(tmp_path, VARIANTS)
    many = [f"u{i:02d}" for i in range(30)]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(many) + "\n", encoding="utf-8")
    a = write(capsys, tmp_path, rubric, ids, "a", "first-secret")
    b = write(capsys, tmp_path, rubric, ids, "b", "second-secret")
    differ = 0
    for sid in many:  # a sheet names the network: equal sheets, equal networks
        same = drawn(sid, "first-secret").describe() == drawn(sid, "second-secret").describe()
        sa, sb = ((d / "sheets" / f"{sid}.md").read_bytes() for d in (a, b))
        ka, kb = ((d / "keys" / f"{sid}.json").read_bytes() for d in (a, b))
        assert (sa == sb) == same
        # the key's formulas name the activation, not the sizes
        assert (ka == kb) == (drawn(sid, "first-secret").activations
                              == drawn(sid, "second-secret").activations)
        differ += not same
    # 100 (sizes and activation) combinations: a repeat has probability 1/100 per student
    assert differ >= 25


# -- the self-test ---------------------------------------------------------------------------------
def test_self_test_passes_on_a_sound_rubric(course, capsys):
    root, rubric, ids = course
    code, out, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                         "--check", "--secret", SECRET, "--json")
    assert code == 0, out + err
    reports = [json.loads(line) for line in out.splitlines()]
    assert [r["student"] for r in reports] == IDS and all(r["ok"] for r in reports)
    for r in reports:
        keys = [c for c in r["checks"] if c["code"] is None]
        assert len(keys) == 12 and all(c["got"] == c["expected"] > 0 for c in keys)
        made = {(c["question"], c["code"]): c for c in r["checks"] if c["code"]}
        # the rubric's points: missing 1/m keeps 1 of dW[1]'s 2 and db[1]'s 2; a sign 2 of 3
        assert made["q1", "missing_scale"]["got"] == 1 and "missing_scale" in \
            made["q1", "missing_scale"]["mistakes"]
        assert made["q2", "missing_scale"]["got"] == 1
        assert made["q3", "sign_error"]["got"] == 2
        assert made["q3", "wrong_activation_derivative"]["got"] == 1
        assert made["q3", "wrong_activation_derivative"]["answer"] == "dZ[1] = W[2]ᵀ dZ[2]"


WRONG = VARIANTS.replace("partial = { sign_error = 2, wrong_activation_derivative = 1 }",
                         "partial = { sign_error = 2, missing_transpose = 1 }")


def test_self_test_fails_on_partial_credit_that_cannot_be_earned(tmp_path, capsys):
    """W[2]ᵀ dZ[2] without its transpose is W[2] dZ[2], (1×n1)(1×m): a shape error, 0 points on
    every network the ranges draw, not the 1 the rubric promises."""
    rubric = write_rubric(tmp_path, WRONG)
    ids = tmp_path / "ids.txt"
    ids.write_text("s001\ns002\n", encoding="utf-8")
    code, out, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                         "--check", "--secret", SECRET)
    assert code == 1, out + err
    bad = [line for line in out.splitlines() if "MISMATCH" in line]
    assert len(bad) == 2 and all("q3 missing_transpose" in b and "W[2] dZ[2]" in b
                                 and "gets 0 (shape_error" in b and "the rubric says 1" in b
                                 for b in bad), out
    assert out.splitlines()[-1] == "self-test: 2 mismatch(es) over 2 student(s)"


def test_the_activation_for_its_derivative_is_made_and_graded(tmp_path, capsys):
    """The catalogue only repairs A[l] → g′(Z[l]); the self-test makes the mistake the other
    way round (g′(Z[1]) → A[1]) and grades it as a student's answer."""
    text = VARIANTS.replace("partial = { sign_error = 2, wrong_activation_derivative = 1 }",
                            "partial = { activation_instead_of_derivative = 2 }")
    rubric = write_rubric(tmp_path, text)
    ids = tmp_path / "ids.txt"
    ids.write_text("s001\n", encoding="utf-8")
    code, out, _ = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                       "--check", "--secret", SECRET, "--json")
    assert code == 0
    (line,) = [c for c in json.loads(out)["checks"] if c["code"] == "activation_instead_of_derivative"]
    assert line["answer"] == "dZ[1] = W[2]ᵀ dZ[2] ⊙ A[1]"
    assert line["ok"] is True and line["got"] == 2 and line["mistakes"] == ["activation_instead_of_derivative"]


def test_a_code_the_formula_cannot_show_is_not_tested_not_passed(tmp_path, capsys):
    text = VARIANTS.replace("partial = { sign_error = 2, wrong_activation_derivative = 1 }",
                            "partial = { missing_scale = 2 }")  # dZ[1] has no 1/m to lose
    rubric = write_rubric(tmp_path, text)
    ids = tmp_path / "ids.txt"
    ids.write_text("s001\n", encoding="utf-8")
    code, out, _ = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                       "--check", "--secret", SECRET, "--json")
    assert code == 0
    lines = [c for c in json.loads(out)["checks"]
             if c["code"] == "missing_scale" and c["question"] == "q3"]
    assert len(lines) == 1 and lines[0]["ok"] is None and "nothing that makes" in lines[0]["why"]


# -- grading against a student's variant ----------------------------------------------------------
def test_grade_student_uses_that_students_network(course, capsys):
    root, rubric, ids = course
    out = write(capsys, root, rubric, ids)
    key = out / "keys" / "s001.json"
    code, text, _ = run(capsys, "grade", "--rubric", str(rubric), "--secret", SECRET, str(key),
                        "--json")
    g = json.loads(text)
    assert code == 0 and g["student"] == "s001" and g["score"] == g["max_score"] == 8
    # the same answers without their id, graded as a student whose hidden layer differs
    other = next(s for s in IDS if drawn(s, SECRET).activations[0]
                 != drawn("s001", SECRET).activations[0])
    answers = json.loads(key.read_text(encoding="utf-8"))
    del answers["_student"]
    bare = root / "bare.json"
    bare.write_text(json.dumps(answers), encoding="utf-8")
    code, text, _ = run(capsys, "grade", "--rubric", str(rubric), "--secret", SECRET,
                        "--student", other, str(bare), "--json")
    g = json.loads(text)
    assert code == 1 and g["student"] == other
    q3 = next(q for q in g["questions"] if q["id"] == "q3")
    assert q3["mistakes"] == ["wrong_activation_derivative"] and q3["points"] == 1
    # an id that disagrees with --student is not gradable; no secret is a usage error
    code, text, _ = run(capsys, "grade", "--rubric", str(rubric), "--secret", SECRET,
                        "--student", other, str(key), "--json")
    g = json.loads(text)
    assert code == 2 and "_student is 's001'" in g["format_errors"][0]
    # ... and worth nothing: a classmate's file renamed keeps none of its points, in any format
    assert g["score"] == 0 and all(q["status"] == "not_gradable" for q in g["questions"])
    code, text, _ = run(capsys, "grade", "--rubric", str(rubric), "--secret", SECRET,
                        "--student", other, str(key), "--format", "gradescope")
    assert code == 2 and json.loads(text)["score"] == 0
    code, _, err = run(capsys, "grade", "--rubric", str(rubric), str(key))
    assert code == 2 and "secret" in err


def test_no_secret_no_draw(course, capsys, monkeypatch):
    root, rubric, ids = course
    monkeypatch.delenv("DERIVE_VARIANT_SECRET", raising=False)
    code, _, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                       "-o", str(root / "out"))
    assert code == 2 and "DERIVE_VARIANT_SECRET" in err and not (root / "out").exists()
    monkeypatch.setenv("DERIVE_VARIANT_SECRET", SECRET)
    code, stdout, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                            "-o", str(root / "env"))
    assert code == 0 and SECRET not in stdout + err
    assert (root / "env" / "keys" / "s001.json").read_bytes() == \
        (write(capsys, root, rubric, ids, "flag") / "keys" / "s001.json").read_bytes()


# -- hostile ids -----------------------------------------------------------------------------------
HOSTILE = [
    ("../../etc/passwd", "path separator"), ("a/b", "path separator"), ("a\\b", "path separator"),
    ("x" * 65, "65 characters"), (".hidden", "leading"), ("a..b", "'..'"), ("-rf", "leading"),
    ("naïve", "'ï'"), ("a b", "' '"), ("semi;colon", "';'"), ("con", "device name"),
    ("NUL.txt", "device name"), ("tab\there", "'\\t'"),
]


@pytest.mark.parametrize(("bad", "why"), HOSTILE, ids=[h[1] + str(i) for i, h in enumerate(HOSTILE)])
def test_hostile_ids_are_refused_by_line_before_anything_is_written(course, capsys, bad, why):
    root, rubric, _ = course
    ids = root / "hostile.txt"
    ids.write_text(f"s001\n\n{bad}\ns002\n", encoding="utf-8")
    code, stdout, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                            "-o", str(root / "out"), "--secret", SECRET)
    assert code == 2, stdout
    assert "hostile.txt, line 3:" in err and why in err, err
    assert not (root / "out").exists()


def test_ids_that_differ_only_in_case_are_one_file_name(course, capsys):
    root, rubric, _ = course
    ids = root / "twice.txt"
    ids.write_text("Ada\nbob\nada\n", encoding="utf-8")
    code, _, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                       "--check", "--secret", SECRET)
    assert code == 2 and "line 3" in err and "repeats line 1" in err


def test_a_hostile_student_id_in_a_submission_is_not_gradable(course, capsys):
    root, rubric, _ = course
    sub = root / "evil.json"
    sub.write_text(json.dumps({"_student": "../x", "q1": "dW1 = 1/m * np.dot(dZ1, X.T)"}),
                   encoding="utf-8")
    code, text, _ = run(capsys, "grade", "--rubric", str(rubric), "--secret", SECRET, str(sub),
                        "--json")
    g = json.loads(text)
    assert code == 2 and not g["gradable"] and "path separator" in g["format_errors"][0]


# -- the [variants] table --------------------------------------------------------------------------
@pytest.mark.parametrize(("old", "new", "says"), [
    ("sizes = [[2, 6], [2, 6], 1]", "sizes = [[2, 6], 1]", "one [lo, hi] (or a size) per layer"),
    ("sizes = [[2, 6], [2, 6], 1]", "sizes = [[6, 2], [2, 6], 1]", "sizes[0] must be [lo, hi]"),
    ("sizes = [[2, 6], [2, 6], 1]", "sizes = [[2, 600], [2, 6], 1]", "grade.variant_size"),
    ('"leaky_relu"]', '"swoosh"]', "'swoosh' is not one of"),
    ("[variants]\n", "[variants]\ncolour = [\"red\"]\n", "unknown key 'colour'"),
    ('"sigmoid"]\n\n[[q', '["sigmoid", "softmax"]]\nloss = ["bce", "ce"]\n\n[[q', "does not make"),
])
def test_a_bad_variants_table_is_named(tmp_path, capsys, old, new, says):
    assert old in VARIANTS
    rubric = write_rubric(tmp_path, VARIANTS.replace(old, new, 1))
    ids = tmp_path / "ids.txt"
    ids.write_text("s001\n", encoding="utf-8")
    code, _, err = run(capsys, "variants", "--rubric", str(rubric), "--students", str(ids),
                       "--check", "--secret", SECRET)
    assert code == 2 and "[variants]" in err and says in err, err


# -- the LaTeX sheet typesets, and its PDF text keeps the answers too --------------------------------
@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                    reason="needs pdflatex and pdftotext (texlive-latex-base, poppler-utils)")
def test_latex_sheet_typesets_without_its_answers(course, capsys):
    from derive.handout.document import compile_tex

    root, rubric, ids = course
    out = write(capsys, root, rubric, ids)
    for sid in IDS[:2]:
        result = compile_tex((out / "sheets" / f"{sid}.tex").read_text(encoding="utf-8"))
        assert "Overfull \\hbox" not in result.log
        pdf = root / f"{sid}.pdf"
        pdf.write_bytes(result.pdf)
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                              timeout=60).stdout.decode("utf-8")
        assert f"questions for {sid}" in text and "q3 (3 points)" in text
        key = json.loads((out / "keys" / f"{sid}.json").read_text(encoding="utf-8"))
        forms = [key[q].split(" = ", 1)[1] for q in ("q1", "q2", "q3", "q4")]
        assert shown(text, forms) == []
