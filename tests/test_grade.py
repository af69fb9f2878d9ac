"""derive grade: rubrics, partial-credit arithmetic, not-gradable answers, numbers questions,
code submissions, untrusted files.

Every expected score is computed here by hand from the rubric's numbers (never copied from
derive's output); the numbers question's true values come from tests/oracle.py (autograd on a
forward pass written there), the student's slips are planted on them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.cli import main
from derive.errors import ResourceLimit, SpecError
from derive.grade import load_rubric, read_submission, rubric_from_mapping
from derive.grade.rubric import RUBRIC_BYTES
from derive.grade.score import grade_answer, grade_submission, partial_points
from derive.grade.submission import SUBMISSION_BYTES, submission_from_text
from derive.network.spec import Network
from tests import oracle
from tests.rubrics import NET, RUBRIC, write_rubric

X = [[1.0], [2.0], [0.5]]
Y = [[1.0]]
W1 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [0.7, 0.8, 0.9], [-0.1, 0.2, 0.3]]
b1 = [[0.1], [0.0], [-0.1], [0.2]]
W2 = [[0.5, -0.4, 0.3, 0.2]]
b2 = [[0.1]]


@pytest.fixture
def rubric_file(tmp_path):
    return write_rubric(tmp_path)


def rubric(extra: dict | None = None, **question):
    q = {"id": "q1", "target": "dW[1]", "points": 3, **question}
    return rubric_from_mapping({"network": NET, "question": [q], **(extra or {})})


# -- partial credit ------------------------------------------------------------------------------
def test_one_mistake_keeps_its_partial_points():
    r = rubric(partial={"missing_scale": 1.25})
    g = grade_answer(r.questions[0], "dW1 = np.dot(dZ1, X.T)", r.network)
    assert (g.points, g.status, g.mistakes) == (1.25, "partial", ("missing_scale",))
    assert g.max_points == 3.0


def test_two_mistakes_lose_both_deductions():
    # points 3; each code keeps 2, so each loses 3 - 2 = 1: 3 - 1 - 1 = 1
    r = rubric(target="dZ[1]", partial={"activation_instead_of_derivative": 2, "sign_error": 2})
    g = grade_answer(r.questions[0], "dZ1 = -np.dot(W2.T, dZ2) * A1", r.network)
    assert set(g.mistakes) == {"activation_instead_of_derivative", "sign_error"}
    assert g.points == 3 - (3 - 2) - (3 - 2) == 1
    # one code the rubric does not name loses everything: 3 - (3 - 2) - (3 - 0) < 0, so 0
    r = rubric(target="dZ[1]", partial={"sign_error": 2})
    assert grade_answer(r.questions[0], "dZ1 = -np.dot(W2.T, dZ2) * A1", r.network).points == 0


def test_partial_points_arithmetic():
    q = rubric(points=4, partial={"missing_scale": 3, "sign_error": 1.5}).questions[0]
    assert partial_points(q, ["missing_scale"]) == 3
    assert partial_points(q, ["missing_scale", "sign_error"]) == 4 - 1 - 2.5
    assert partial_points(q, ["sign_error", "sign_error"]) == 1.5  # a code counts once
    assert partial_points(q, ["other"]) == 0
    assert partial_points(q, []) == 0


def test_shape_error_scores_zero_but_says_so():
    # wrong_order keeps 2 points when the value is wrong, but a shape error scores 0
    r = rubric(target="dZ[1]", partial={"wrong_order": 2})
    g = grade_answer(r.questions[0], "dZ1 = dZ2 W2^T * relu'(Z1)", r.network)
    assert (g.points, g.status, g.verdict) == (0, "shape_error", "shape_error")
    assert "wrong_order" in g.mistakes and "inner dimensions" in g.messages[0]


def test_right_side_alone_is_read_as_the_target():
    r = rubric(target="db[1]")
    g = grade_answer(r.questions[0], "1/m * np.sum(dZ1, axis=1, keepdims=True)", r.network)
    assert (g.points, g.status) == (3, "correct")


def test_an_answer_for_another_gradient_scores_zero():
    r = rubric()
    g = grade_answer(r.questions[0], "dW2 = 1/m * np.dot(dZ2, A1.T)", r.network)
    assert (g.points, g.status) == (0, "incorrect")
    assert "dW[2]" in g.messages[0] and "dW[1]" in g.messages[0]


def test_correct_under_a_condition_keeps_the_conditional_points():
    r = rubric(conditional=0.75)
    g = grade_answer(r.questions[0], "dw1 = dz1 x^T", r.network)
    assert g.verdict == "correct" and g.points == 0.75 and g.status == "partial"
    assert any("m = 1" in c for c in g.conditions)
    full = rubric()  # no conditional: full points, the condition still reported
    g = grade_answer(full.questions[0], "dw1 = dz1 x^T", full.network)
    assert (g.points, g.status) == (3, "correct") and g.conditions


def test_parse_error_is_not_gradable_with_its_position():
    r = rubric()
    sub = submission_from_text('{"q1": "dW1 = (((1/m"}', "eve.json")
    g = grade_submission(r, sub)
    q = g.questions[0]
    assert (q.points, q.status) == (0, "not_gradable")
    assert not g.gradable and g.format_errors[0].startswith("q1: ")
    assert "position" in g.format_errors[0]
    assert g.exit_code == 2


def test_a_number_is_not_a_formula():
    r = rubric()
    g = grade_submission(r, submission_from_text('{"q1": 3.5}', "x.json"))
    assert g.questions[0].status == "not_gradable" and "not a formula" in g.questions[0].messages[0]


# -- the whole submission ------------------------------------------------------------------------
def test_submission_total_by_hand(rubric_file, tmp_path):
    r = load_rubric(rubric_file)
    sub = tmp_path / "ada.json"
    sub.write_text(json.dumps({
        "q1": "dW1 = np.dot(dZ1, X.T)",                       # missing_scale: keeps 1.5 of 2
        "q2": "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)",  # right: 2
        "q3": "dZ1 = -np.dot(W2.T, dZ2) * A1",                # two codes keep 2 each: 3-1-1 = 1
        "q4": "dw1 = dz1 x^T",                                # right only when m = 1: 0.25
        "q9": "dW9 = 0",                                      # not a question: noted
    }), encoding="utf-8")
    g = grade_submission(r, read_submission(sub))
    assert [q.points for q in g.questions] == [1.5, 2, 1, 0.25]
    assert g.score == 1.5 + 2 + 1 + 0.25 and g.max_score == 2 + 2 + 3 + 1
    assert g.student == "ada" and g.gradable and g.exit_code == 1
    assert g.questions[0].feedback == ("J is a mean over the examples.",)
    assert any("'q9'" in n for n in g.notes)


def test_code_file_answers_the_questions_of_its_gradients(rubric_file, tmp_path):
    code = tmp_path / "bob.py"
    code.write_text(
        "def backward(X, Y, cache, parameters):\n"
        "    m = X.shape[1]\n"
        "    W2 = parameters['W2']\n"
        "    A1, A2, Z1 = cache['A1'], cache['A2'], cache['Z1']\n"
        "    dZ2 = A2 - Y\n"
        "    dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)\n"
        "    dW1 = 1 / m * np.dot(dZ1, X.T)\n"
        "    db1 = np.sum(dZ1, axis=1, keepdims=True)\n"
        "    return dW1, db1\n", encoding="utf-8")
    g = grade_submission(load_rubric(rubric_file), read_submission(code))
    q1, q2, q3, q4 = g.questions
    assert (q1.points, q1.status) == (2, "correct") and "line 7" in q1.answer
    assert (q2.points, q2.status, q2.mistakes) == (0, "incorrect", ("missing_scale",))
    assert (q3.points, q3.status) == (3, "correct")
    assert (q4.points, q4.status) == (1, "correct")  # q4 asks for dW[1] too: full points
    assert g.score == 2 + 0 + 3 + 1


def test_a_folder_is_one_submission(rubric_file, tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "a.json").write_text('{"q1": "dW1 = 1/m dZ1 X^T"}', encoding="utf-8")
    (folder / "b.toml").write_text('q2 = "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)"\n',
                                   encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    g = grade_submission(load_rubric(rubric_file), read_submission(folder, "s123"))
    assert g.student == "s123" and [q.points for q in g.questions] == [2, 2, 0, 0]
    assert [q.status for q in g.questions][2:] == ["missing", "missing"]


# -- numbers questions ---------------------------------------------------------------------------
def _truth():
    """dZ2, dW2, db2, dZ1 of the worked example, by autograd (m = 1: J's gradient is dZ's)."""
    net = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")
    params = {k: np.array(v) for k, v in {"W1": W1, "b1": b1, "W2": W2, "b2": b2}.items()}
    Xa, Ya = np.array(X), np.array(Y)
    grads = oracle.param_gradients(net, params, Xa, Ya)
    Z1 = params["W1"] @ Xa + params["b1"]
    Z2 = params["W2"] @ np.maximum(Z1, 0) + params["b2"]
    return {"dZ2": oracle.intermediate_gradient(net, "Z", 2, Z2, params, Xa, Ya),
            "dW2": grads["W2"], "db2": grads["b2"],
            "dZ1": oracle.intermediate_gradient(net, "Z", 1, Z1, params, Xa, Ya), "A1": np.maximum(Z1, 0)}


def _numbers_rubric(follow: float):
    return rubric_from_mapping({"network": NET, "question": [{
        "id": "n1", "kind": "numbers", "points": 4, "steps": ["dZ2", "dW2", "db2", "dZ1"],
        "follow_through": follow,
        "values": {"X": X, "Y": Y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}}]})


def _written(a) -> list:
    return [[f"{x:.10g}" for x in row] for row in np.atleast_2d(a)]


def test_numbers_question_credits_steps_that_follow_from_a_slip():
    t = _truth()
    slip = np.vectorize(lambda x: float(f"{x:.10g}"))(t["dZ2"] + 0.5)  # a new slip at dZ2,
    # as written (10 digits), so that what follows from it is computed from the written value
    answer = {"dZ2": _written(slip),
              "dW2": _written(slip @ t["A1"].T),  # right from the student's own dZ2: follows
              "db2": _written(slip),              # (m = 1) follows too
              "dZ1": _written(t["dZ1"])}          # right
    r = _numbers_rubric(follow=0.5)
    g = grade_answer(r.questions[0], answer, r.network)
    by_step = {s["step"]: s for s in g.steps}
    assert [by_step[k]["status"] for k in ("dZ[2]", "dW[2]", "db[2]", "dZ[1]")] == [
        "wrong", "follows", "follows", "right"]
    share = 4 / 4
    assert g.points == 0 + 0.5 * share + 0.5 * share + share == 2
    assert g.first_wrong_step == "dZ[2]" and g.status == "partial"
    g1 = grade_answer(_numbers_rubric(follow=1).questions[0], answer, r.network)
    assert g1.points == 0 + share + share + share == 3


def test_numbers_question_missing_steps_score_nothing():
    t = _truth()
    r = _numbers_rubric(follow=1)
    g = grade_answer(r.questions[0], {"dZ2": _written(t["dZ2"])}, r.network)
    assert g.points == 1 and [s["status"] for s in g.steps] == ["right", "missing", "missing",
                                                                  "missing"]


def test_numbers_rubric_errors_are_named():
    with pytest.raises(SpecError, match=r"question 1 \(id 'n1'\): steps: 'dQ2' is not a step"):
        rubric_from_mapping({"network": NET, "question": [{
            "id": "n1", "kind": "numbers", "points": 1, "steps": ["dQ2"], "values": {"X": X}}]})
    with pytest.raises(SpecError, match="needs 'values'"):
        rubric_from_mapping({"network": NET, "question": [{"id": "n1", "kind": "numbers",
                                                           "points": 1}]})


# -- the rubric is untrusted input too -----------------------------------------------------------
@pytest.mark.parametrize("question, message", [
    ({"id": "q1", "target": "dW[1]", "pionts": 2}, r"question 1 \(id 'q1'\)|question 1: unknown key 'pionts'"),
    ({"id": "q1", "target": "dW[3]", "points": 2}, "the network has layers 1 to 2"),
    ({"id": "q1", "target": "W1", "points": 2}, "is not a gradient of a layer"),
    ({"id": "q1", "target": "dW1", "points": 2, "partial": {"missing_scal": 1}},
     "'missing_scal' is not a mistake code"),
    ({"id": "q1", "target": "dW1", "points": 2, "partial": {"missing_scale": 3}},
     "keeps 3 points of the question's 2"),
    ({"id": "q1", "target": "dW1", "points": -1}, "a number of points, 0 or more"),
    ({"id": "q 1", "target": "dW1", "points": 1}, "'id' must be a short name"),
])
def test_bad_questions_are_named(question, message):
    with pytest.raises(SpecError, match=message):
        rubric_from_mapping({"network": NET, "question": [question]}, "r.toml")


def test_malformed_rubric_names_line_and_column(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[network]\nlayers = [3, 1]\nloss = \n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"r\.toml, line 3, column 8: malformed TOML"):
        load_rubric(path)


def test_rubric_and_submission_sizes_are_bounded(tmp_path):
    big = tmp_path / "r.toml"
    big.write_text("# " + "x" * RUBRIC_BYTES.value + "\n", encoding="utf-8")
    with pytest.raises(ResourceLimit) as err:
        load_rubric(big)
    assert err.value.name == "grade.rubric_bytes"
    sub = tmp_path / "big.json"
    sub.write_text('{"q1": "' + "x" * SUBMISSION_BYTES.value + '"}', encoding="utf-8")
    s = read_submission(sub)
    assert s.answers == {} and "grade.submission_bytes" in s.errors[0]


def test_hostile_submissions_are_format_errors(tmp_path):
    nested = submission_from_text("{" + '"a": [' * 100 + "]" * 100 + "}", "deep.json")
    assert "line 1, column" in nested.errors[0] and "nested more than" in nested.errors[0]
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"q1": "dW1 = \xe9"}')
    assert "not UTF-8" in read_submission(bad).errors[0]
    toml = submission_from_text('q1 = "dW1 = 1/m dZ1 X^T"\nq2 = \n', "s.toml")
    assert toml.errors[0].startswith("s.toml, line 2, column")


# -- the command ---------------------------------------------------------------------------------
def test_cli_grades_every_submission_and_goes_on(rubric_file, tmp_path, capsys):
    good = tmp_path / "ada.json"
    good.write_text(json.dumps({"q1": "dW1 = 1/m dZ1 X^T",
                                "q2": "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)",
                                "q3": "dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)",
                                "q4": "dW1 = 1/m dZ1 X^T"}), encoding="utf-8")
    broken = tmp_path / "eve.json"
    broken.write_text('{"q1": ', encoding="utf-8")
    code = main(["grade", "--rubric", str(rubric_file), str(good), str(broken),
                 str(tmp_path / "gone.json"), "--format", "json"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 2  # the worst: not gradable
    assert [o["student"] for o in out] == ["ada", "eve", "gone"]
    assert (out[0]["score"], out[0]["max_score"], out[0]["gradable"]) == (8, 8, True)
    assert out[1]["gradable"] is False and "line 1, column 8" in out[1]["format_errors"][0]
    assert "cannot read submission file" in out[2]["format_errors"][0]
    assert main(["grade", "--rubric", str(rubric_file), str(good)]) == 0


def test_cli_bad_rubric_is_an_error_with_its_place(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text(RUBRIC.replace('points = 3', 'points = "three"'), encoding="utf-8")
    assert main(["grade", "--rubric", str(path), str(path)]) == 2
    err = capsys.readouterr().err
    assert "question 3 (id 'q3'): 'points' must be a number" in err and "Traceback" not in err
