"""Every result type renders in Jupyter: nbclient executes tests/data/notebooks/results.ipynb in
a real kernel, and each cell's rich output is checked.

A result class with ``_repr_html_`` must send HTML that shows its content with every user
string escaped; the classes whose method has not landed yet (docs/web.md, "Notebooks") must
send their plain text only, so this test follows each class the moment its method is added.
The HTML the methods call for, :func:`derive.web.html.to_html`, is checked here directly too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")

NOTEBOOK = Path(__file__).resolve().parent / "data" / "notebooks" / "results.ipynb"

# cell index -> (the result's class, text its HTML must show, text its HTML must not hold)
EXPECT = {
    1: ("Derivation", ["dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])", "proven"], []),
    2: ("Formula", ["dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])"], []),
    3: ("Verdict", ["not equivalent", "missing_scale"], []),
    4: ("Verdict", ["&lt;script&gt;"], ["<script>"]),
    5: ("GradCheck", ["PASSED", "W[1]"], []),
    6: ("Worked", ["worked example", "bmatrix"], []),
    7: ("StabilityResult", ["stable", "depth 10"], []),
    8: ("JacobianResult", ["∂Z[2]"], []),
    9: ("Handout", ["Week 3 &lt;b&gt;backprop&lt;/b&gt;"], ["<b>backprop"]),
}


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    return nb


def _result(nb, index: int) -> dict:
    outputs = [o for o in nb.cells[index].outputs if o.output_type == "execute_result"]
    assert len(outputs) == 1, nb.cells[index].outputs
    return outputs[0]["data"]


def _class(name: str):
    import derive

    if name == "JacobianResult":
        from derive.jacobian.render import JacobianResult
        return JacobianResult
    if name == "StabilityResult":
        from derive.stability.analyse import StabilityResult
        return StabilityResult
    if name == "Worked":
        from derive.numbers.worked import Worked
        return Worked
    if name == "GradCheck":
        from derive.numbers.gradcheck import GradCheck
        return GradCheck
    if name == "Handout":
        from derive.handout.document import Handout
        return Handout
    return getattr(derive, name)


@pytest.mark.parametrize("index", sorted(EXPECT))
def test_every_result_renders_in_a_notebook(executed, index):
    name, shows, never = EXPECT[index]
    data = _result(executed, index)
    cls = _class(name)
    assert "text/plain" in data
    if hasattr(cls, "_repr_html_"):
        page = data["text/html"]
        for text in shows:
            assert text in page, (name, text)
        for text in never:
            assert text not in page, (name, text)
    elif hasattr(cls, "_repr_latex_"):
        assert "text/latex" in data and "text/html" not in data
    else:  # the method has not landed yet: plain text only (docs/web.md lists the requests)
        assert set(data) == {"text/plain"}, (name, set(data))


def _results() -> dict:
    """The notebook's results, made here the way its cells make them."""
    import derive
    from derive.numbers.inputs import parse_mapping_text

    net = derive.Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    d = derive.backward(net)
    inp = parse_mapping_text((NOTEBOOK.parent.parent / "seed003_student.json")
                             .read_text(encoding="utf-8"))
    small = derive.Network(layers=[2, 2, 1], activations=["relu", "sigmoid"], loss="bce")
    return {
        1: d, 2: d.formula("dZ", 1),
        3: derive.check("dW1 = np.dot(dZ1, X.T)", net),
        4: derive.check("dZ1 = <script>alert(1)</script> W2", net),
        5: derive.gradcheck(net),
        6: derive.numbers(derive.Network.from_mapping(inp.network), inp.values),
        7: derive.stability(depth=10, width=8),
        8: derive.jacobian("Z2", "W2", small),
        9: derive.handout(net, title="Week 3 <b>backprop</b>"),
    }


def test_the_html_the_methods_call_for():
    """derive.web.html.to_html of each result, made here as the notebook makes it."""
    from derive.web.html import to_html

    for index, result in _results().items():
        name, shows, never = EXPECT[index]
        assert type(result).__name__ == name
        page = to_html(result)
        for text in shows:
            assert text in page, (name, text)
        for text in never:
            assert text not in page, (name, text)
