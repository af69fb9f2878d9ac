"""The network drawn: a TikZ picture for LaTeX handouts, one line of text for Markdown.

>>> from derive.network.spec import Network
>>> print(diagram_md(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")))
`X (3) → relu (3) → sigmoid (1) → J (bce)`
"""

from __future__ import annotations

import sympy as sp

from derive.network.spec import Network


def _act_latex(net: Network, l: int) -> str:
    act = net.activation(l)
    return act.latex if act is not None else f"g^{{[{l}]}}"


def _shown_layers(L: int) -> list[int | None]:
    return list(range(L + 1)) if L <= 6 else [0, 1, 2, None, L - 1, L]


def tikz(net: Network) -> str:
    step = min(2.6, 14.8 / len(_shown_layers(net.L)))  # the boxes fit the text width (16.6 cm)
    lines = [r"\begin{center}", rf"\begin{{tikzpicture}}[x={step:.2f}cm, font=\small,",
             r"  box/.style={draw, rounded corners, align=center, minimum width=1.4cm, minimum height=1.1cm}]"]
    for i, l in enumerate(_shown_layers(net.L)):
        if l is None:
            lines.append(rf"\node (n{i}) at ({i},0) {{$\cdots$}};")
        elif l == 0:
            lines.append(rf"\node[box] (n{i}) at ({i},0) {{$X$\\ $n_{{0}} = {sp.latex(net.dim(0))}$}};")
        else:
            lines.append(rf"\node[box] (n{i}) at ({i},0) {{$A^{{[{l}]}}$\\ ${_act_latex(net, l)}$\\ "
                         rf"$n_{{{l}}} = {sp.latex(net.dim(l))}$}};")
        if i > 0:
            label = "" if l is None else (rf"node[above, align=center, font=\scriptsize] "
                                                 rf"{{$W^{{[{l}]}}$\\ $b^{{[{l}]}}$}} ")
            lines.append(rf"\draw[->] (n{i - 1}) -- {label}(n{i});")
    last = len(_shown_layers(net.L))
    loss = net.loss or r"\ell"
    loss_txt = rf"\texttt{{{loss}}}" if net.loss else r"$\ell$"
    lines.append(rf"\node[box] (n{last}) at ({last},0) {{$J$\\ {loss_txt}}};")
    lines.append(rf"\draw[->] (n{last - 1}) -- (n{last});")
    lines += [r"\end{tikzpicture}", r"\end{center}"]
    return "\n".join(lines)


def diagram_md(net: Network) -> str:
    parts = []
    for l in _shown_layers(net.L):
        if l is None:
            parts.append("…")
        elif l == 0:
            parts.append(f"X ({net.dim(0)})")
        else:
            act = net.activation(l)
            parts.append(f"{act.name if act else f'g[{l}]'} ({net.dim(l)})")
    return "`" + " → ".join(parts) + f" → J ({net.loss or 'ℓ'})`"
