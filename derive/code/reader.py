"""Reading one unit of a snippet (a function, or the lines outside any function) at one network
and layer: its statements followed in order, its gradients collected.

The unit's parameters mean what the course's well-known functions say (:mod:`.known`), or
themselves; assignments, tuple unpacking, ``+=`` and the other augmented assignments, masked
assignments (``dZ[Z <= 0] = 0``, CS231n's ``dscores[range(N), y] -= 1``), ``if`` on Python values
(``activation == "relu"``), ``for`` over layers (unrolled), ``return``, and calls of the snippet's
own functions and the course's (inlined, their parameters bound to the arguments' values) are
followed; every array expression is read by the formula parser (:mod:`.evaluate`). Nothing is
executed. Each assignment to a gradient (a name the parser reads as one: ``dZ``, ``dW2``,
``grads['db1']``, ``nabla_w[-1]``) at the unit's own level is a result: its quantity, its value,
the line of its last assignment.
"""

from __future__ import annotations

import ast
import re
import time
from dataclasses import dataclass, field

from derive.code import calls as C
from derive.code import evaluate as X
from derive.code import masks as M
from derive.code import returns
from derive.code import roles as R
from derive.code import values as V
from derive.code.known import GRADIENT_DICTS, KNOWN, LISTS
from derive.code.numeric_table import _Break, _Continue
from derive.code.source import Source
from derive.core import expr as E
from derive.errors import DeriveError, ResourceLimit
from derive.limits import Limit, require
from derive.parse import parse_expression
from derive.parse.names import GenericLayerNeeded

STATEMENTS = Limit("code.statements", 20_000, "statements",
                   "a smaller network (fewer layers to unroll)",
                   "the statements one reading of a snippet follows, counting every iteration "
                   "of an unrolled loop and every inlined call")
SECONDS = Limit("code.seconds", 20, "seconds", "a shorter snippet or a smaller network",
                "one reading of a snippet at one network and layer")
KINDS = R.KINDS  # the gradients a name may mean: one table, in roles.py
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
        ast.MatMult: "@"}
_FREE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\s*[(\w=])")


class _Return(Exception):  # noqa: N818 - control flow, never escapes a call
    def __init__(self, value, node=None):
        self.value, self.node = value, node


@dataclass
class Entry:
    """One gradient the unit computes: as written, its quantity, its value, its line."""

    name: str
    quantity: E.Sym
    value: V.Tensor | V.Broken
    line: int


@dataclass
class Frame:
    reader: Reader
    source: Source
    env: dict
    layer: int | None
    fname: str
    top: bool  # the unit's own statements (results are collected here only)
    depth: int = 0
    building: E.Sym | None = None  # the gradient the current statement assigns
    line: int = 0

    def lookup(self, ident: str):
        if ident in self.env:
            return self.env[ident]
        return self.reader.globals.get(ident)


@dataclass
class Reading:
    entries: dict = field(default_factory=dict)  # name as written -> Entry
    notes: list = field(default_factory=list)
    unindexed: dict = field(default_factory=dict)  # name -> (name, base, offset)


class Reader:
    """One reading of one unit at ``net`` and ``layer`` (None: names carry their layers)."""

    def __init__(self, source: Source, functions: dict, net, layer, dialect, user_names,
                 results: dict | None = None):
        self.source, self.net, self.layer = source, net, layer
        self.dialect, self.user_names = dialect, dict(user_names or {})
        self.results = dict(results or {})  # a function's bound results (returns.py)
        self.helpers_only = False  # True in such a function: its locals are not gradients
        self.globals: dict = {k: V.Func(k, f) for k, f in functions.items()}
        self.sources = {k: source for k in functions}
        self.reading = Reading()
        self.steps = 0
        self.started = time.monotonic()
        self._fresh = 0
        self._names: dict = {}
        self.outputs: dict = {}  # a known function's output names -> quantities (known.py)

    # -- bookkeeping ---------------------------------------------------------------------------
    def fresh(self) -> str:
        self._fresh += 1
        return f"code_v{self._fresh}"

    def count(self, n: int, node) -> None:
        self.steps += n
        require(STATEMENTS, self.steps, "reading this snippet")
        elapsed = int(time.monotonic() - self.started)
        require(SECONDS, elapsed, "reading this snippet")

    def note(self, text: str) -> None:
        if text not in self.reading.notes:
            self.reading.notes.append(text)

    def saw(self, text: str, frame: Frame, names: dict) -> None:
        """Record the names read at the current layer without an index (dZ, A_prev)."""
        if frame.layer is None:
            return
        for ident in set(_FREE.findall(text)):
            if ident in names or ident in ("np", "numpy", "m", "T", "X", "Y", "x", "y") \
                    or any(c.isdigit() for c in ident) or ident in self.reading.unindexed:
                continue
            sym = self._quantity(ident, frame.layer)
            if sym is not None and sym.layer is not None:
                self.reading.unindexed[ident] = (ident, sym.base, sym.layer - frame.layer)

    def _quantity(self, ident: str, layer: int | None) -> E.Sym | None:
        key = (ident, layer)
        if key not in self._names:
            try:
                e = parse_expression(ident, self.net, syntax="text", layer=layer,
                                     names={ident: self.user_names[ident]}
                                     if ident in self.user_names else None,
                                     dialect=self.dialect)
            except GenericLayerNeeded:
                raise
            except DeriveError:
                e = None
            self._names[key] = e if isinstance(e, E.Sym) else None
        return self._names[key]

    def gradient(self, ident: str, layer: int | None, helper: bool = True) -> E.Sym | None:
        """The gradient quantity a name means (dZ at layer 2 is dZ[2]), or None; a known
        function's outputs mean what the table says (CS231n's relu_backward's dx is dZ[l])."""
        if self.helpers_only and helper:  # a function whose results are bound (returns.py)
            return None
        if ident in self.outputs:
            text = self.outputs[ident].replace("[L]", f"[{self.net.L}]").removesuffix(".T")
            if "[l]" in text and layer is None:
                raise GenericLayerNeeded(f"{ident} belongs to a layer l: give the layer to check",
                                         None, None)
            sym = self._quantity(text.replace("[l]", f"[{layer}]"), None)
            return sym if sym is not None and sym.base in KINDS else None
        sym = self._quantity(ident, layer)
        return sym if sym is not None and sym.base in KINDS else None

    # -- running ----------------------------------------------------------------------------
    def run(self, fname: str, node, roles: dict) -> Reading:
        """Follow the unit's statements; its parameters have their ``roles`` (known.py) or
        mean themselves (``self`` is the object of a method)."""
        frame = Frame(self, self.sources.get(fname, self.source), {}, self.layer, fname, True)
        known = KNOWN.get(fname) if isinstance(node, ast.FunctionDef) else KNOWN[
            "batchnorm_backward"] if roles.get("cache") == "batchnorm_cache" else None  # posted
        self.outputs = dict(known.outputs) if known else {}  # lines of its body
        for p, role in roles.items():
            frame.env[p] = R.parameter(self, p, role, frame, fname, node)
        if isinstance(node, ast.FunctionDef) and node.args.args and node.args.args[0].arg == "self":
            frame.env["self"] = V.Self()
        body = node.body if isinstance(node, ast.FunctionDef) else node
        wanted = self.results.get(fname) if isinstance(node, ast.FunctionDef) else None
        self.helpers_only = bool(wanted)
        try:
            self.block(frame, body)
        except _Return as ret:
            returns.finish(self, frame, ret.value, ret.node, wanted)
        except (_Break, _Continue):
            pass
        return self.reading

    def block(self, frame: Frame, body: list) -> None:
        for stmt in body:
            self.statement(frame, stmt)

    def statement(self, frame: Frame, node: ast.stmt) -> None:
        self.count(1, node)
        frame.line, frame.building = node.lineno, None
        if isinstance(node, ast.Raise):  # reached: the branch followed raises, nothing after runs
            raise X.error(frame, node, "the code raises an exception here, in the branch derive "
                                       "followed for this network")
        try:
            self._statement(frame, node)
        except (GenericLayerNeeded, ResourceLimit, _Return, _Break, _Continue):
            raise
        except RecursionError:
            self._broken(frame, node, X.error(frame, node, "the code nests too deeply"))
        except DeriveError as exc:
            self._broken(frame, node, X.at_line(exc, node.lineno))

    def _statement(self, frame: Frame, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self.assign(frame, target, node.value, node)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.assign(frame, node.target, node.value, node)
        elif isinstance(node, ast.AugAssign):
            self.augmented(frame, node)
        elif isinstance(node, ast.Return):
            raise _Return(X.value(frame, node.value) if node.value is not None else V.Null(),
                          node)
        elif isinstance(node, ast.If):
            decided = X.truth(frame, node.test)
            if decided is None:
                raise X.error(frame, node, "which branch of this if runs depends on the arrays' "
                                           "values: derive reads code whose branches it can "
                                           "decide (activation == \"relu\", y is None)")
            self.block(frame, node.body if decided else node.orelse)
        elif isinstance(node, ast.For):
            self.loop(frame, node)
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        elif isinstance(node, ast.FunctionDef):
            frame.env[node.name] = V.Func(node.name, node)
            self.sources[node.name] = frame.source
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self.side_effect(frame, node.value)
        # docstrings, pass, assert, import, class bodies: nothing to follow

    def _broken(self, frame: Frame, node: ast.stmt, exc: DeriveError) -> None:
        """An unreadable statement: what it assigns is broken, reported where it is needed."""
        targets: list = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)  # a copy: the tree is shared by every reading
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.If | ast.For):
            targets = [t for n in ast.walk(node) if isinstance(n, ast.Assign)
                       for t in n.targets]
            targets += [n.target for n in ast.walk(node) if isinstance(n, ast.AugAssign)]
        flat: list = []
        while targets:
            t = targets.pop()
            if isinstance(t, ast.Tuple | ast.List):
                targets.extend(t.elts)
            elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and \
                    isinstance(frame.lookup(t.value.id), V.Tensor | V.Broken):
                flat.append(t.value)  # dZ[Z <= 0] = ...: dZ itself is broken
            else:
                flat.append(t)
        if not flat and frame.top:
            self.note(str(exc))
        for t in flat:
            try:
                q = self.target_quantity(frame, t)
                self.store(frame, t, V.Broken(exc, node.lineno, q), q, None)
            except (GenericLayerNeeded, ResourceLimit):
                raise
            except DeriveError:
                if frame.top:
                    self.note(str(exc))

    # -- assignments --------------------------------------------------------------------------
    def assign(self, frame: Frame, target, value_node, stmt) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            if isinstance(value_node, ast.Tuple | ast.List) and \
                    len(value_node.elts) == len(target.elts):
                for t, v in zip(target.elts, value_node.elts, strict=True):
                    self.assign(frame, t, v, stmt)
                return
            self.unpack(frame, target, X.value(frame, value_node), stmt)
            return
        if isinstance(target, ast.Name) and target.id in LISTS:
            frame.env[target.id] = R.known_list(self, target.id)  # Nielsen's lists, by their names
            return
        if isinstance(target, ast.Subscript) and self._is_mask(frame, target):
            self.masked(frame, target, value_node, None)
            return
        q = self.target_quantity(frame, target)
        frame.building = q
        self.store(frame, target, X.value(frame, value_node), q, value_node)

    def unpack(self, frame: Frame, target, v, stmt) -> None:
        elts = target.elts
        if isinstance(v, V.Seq):
            if len(v.items) != len(elts):
                raise X.error(frame, stmt, f"{len(elts)} names are unpacked from "
                                           f"{V.describe(v)}, which has {len(v.items)}", True)
            items = v.items
        elif isinstance(v, V.Own | V.Mapping):  # an unknown cache: each name means itself
            items = [V.Own(t.id) if isinstance(t, ast.Name) else V.Null() for t in elts]
        else:
            raise X.error(frame, stmt, f"cannot unpack {V.describe(v)}")
        for t, item in zip(elts, items, strict=True):
            if isinstance(t, ast.Tuple | ast.List):
                self.unpack(frame, t, item, stmt)
            else:
                q = self.target_quantity(frame, t)
                self.store(frame, t, item, q, None)

    def target_quantity(self, frame: Frame, target) -> E.Sym | None:
        """The gradient an assignment target names, or None for a helper variable."""
        if isinstance(target, ast.Name):
            return self.gradient(target.id, frame.layer)
        if isinstance(target, ast.Subscript):
            container = X.value(frame, target.value)
            key = X.value(frame, target.slice)
            if isinstance(container, V.Mapping) and isinstance(key, V.Str):
                return self.key_quantity(container, key.value, frame.layer)
            if isinstance(container, V.Seq) and isinstance(key, V.Int) and container.what in LISTS:
                base, first = LISTS[container.what]
                n = len(container.items)
                i = key.value if key.value >= 0 else n + key.value
                if base in KINDS and 0 <= i < n:
                    return self.gradient(f"{base}{i + first}", None)
        return None

    def key_quantity(self, mapping: V.Mapping, key: str, layer) -> E.Sym | None:
        q = self.gradient(key, layer) if re.fullmatch(r"[A-Za-z_]\w*", key) else None
        if q is None and GRADIENT_DICTS.match(mapping.what or "") and \
                re.fullmatch(r"[WbZA]\w*", key):
            q = self.gradient("d" + key, layer)
        return q

    def store(self, frame: Frame, target, v, q: E.Sym | None, value_node) -> None:
        q = R.rekeyed(self, frame, target, v, q, value_node)
        if q is not None and isinstance(v, V.Tensor):
            expr = v.expr
            if v.grad is not None and v.grad != q and not isinstance(value_node, ast.Call) \
                    and value_node is not None:
                expr = v.grad  # dX = dZ: the formula is dZ itself
            v = V.Tensor(expr, q)
        elif q is not None and isinstance(v, V.Own):
            v = V.Tensor(X.as_expr(frame, v, target, v.name), q)
        elif q is not None and isinstance(v, V.Broken):
            v = V.Broken(v.error, v.line, q)
        if isinstance(target, ast.Name) and isinstance(v, V.Own) and v.name != target.id:
            try:  # Z = activation_cache: Z means itself unless the other name is a quantity
                v = V.Tensor(X.tensor_of_name(frame, v.name, target))
            except (GenericLayerNeeded, ResourceLimit):
                raise
            except DeriveError:
                v = V.Own(target.id)
        if isinstance(target, ast.Name):
            if isinstance(v, V.Seq | V.Mapping) and not v.what:
                v.what = target.id
            frame.env[target.id] = v
            shown = target.id
        elif isinstance(target, ast.Subscript):
            container = X.value(frame, target.value)
            key = X.value(frame, target.slice)
            shown = self.item_name(container, key, frame.source.segment(target))
            if isinstance(container, V.Mapping) and isinstance(key, V.Str):
                container.items[key.value] = v
            elif isinstance(container, V.Seq) and isinstance(key, V.Int) and \
                    -len(container.items) <= key.value < len(container.items):
                container.items[key.value] = v
            else:
                raise X.error(frame, target, f"cannot assign to {frame.source.segment(target)}")
        elif isinstance(target, ast.Attribute):
            return  # self.x = ...: not followed
        else:
            raise X.error(frame, target, "this assignment target is not read")
        if frame.top and q is not None and isinstance(v, V.Tensor | V.Broken):
            self.record(shown, q, v, frame.line)

    def record(self, shown: str, q: E.Sym, v, line: int) -> None:
        """A gradient result under the name it was assigned to; storing a gradient's value
        again under another name (``gradients = {"dW1": dW1}``) is not a new result."""
        entries = self.reading.entries
        if isinstance(v, V.Tensor) and shown not in entries and any(
                e.quantity == q and isinstance(e.value, V.Tensor) and e.value.expr is v.expr
                for e in entries.values()):
            return
        old = entries.get(shown)
        if old is not None and isinstance(v, V.Tensor) and isinstance(old.value, V.Tensor) \
                and old.value.expr is v.expr and old.quantity == q:
            return
        entries.pop(shown, None)  # the last assignment's line and place in the order
        entries[shown] = Entry(shown, q, v, line)

    @staticmethod
    def item_name(container, key, written: str) -> str:
        label = getattr(container, "what", "") or "?"
        if isinstance(key, V.Str):
            return f"{label}['{key.value}']"
        if isinstance(key, V.Int):
            return f"{label}[{key.value}]"
        return written

    def augmented(self, frame: Frame, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Subscript) and self._is_mask(frame, target):
            self.masked(frame, target, node.value, node.op)
            return
        q = self.target_quantity(frame, target)
        frame.building = q
        current = X.value(frame, target)
        rhs = X.value(frame, node.value)
        if isinstance(current, V.Int) and isinstance(rhs, V.Int):
            ops = {ast.Add: current.value + rhs.value, ast.Sub: current.value - rhs.value,
                   ast.Mult: current.value * rhs.value}
            if type(node.op) in ops:
                self.store(frame, target, V.Int(ops[type(node.op)]), None, None)
                return
        op = _OPS.get(type(node.op))
        if op is None:
            raise X.error(frame, node, "this augmented assignment is not read")
        what = frame.source.segment(target)
        a = X.as_expr(frame, current, target, what)
        b = X.as_expr(frame, rhs, node.value, frame.source.segment(node.value))
        self.store(frame, target, V.Tensor(self.combine(frame, f"{{a}} {op} ({{b}})", a=a, b=b)),
                   q, None)

    def combine(self, frame: Frame, template: str, **parts: E.Expr) -> E.Expr:
        """Expressions combined by the parser: ``template`` with each part a bound name."""
        names = {}
        fill = {}
        for k, e in parts.items():
            key = self.fresh()
            names[key] = e
            fill[k] = key
        try:
            return parse_expression(template.format(**fill), self.net, syntax="text",
                                    layer=frame.layer, names=names, dialect=self.dialect)
        except DeriveError as exc:
            raise X.at_line(exc, frame.line) from None

    def _is_mask(self, frame: Frame, target: ast.Subscript) -> bool:
        return M.is_mask(frame, target)

    def masked(self, frame: Frame, target: ast.Subscript, value_node, op) -> None:
        M.masked(self, frame, target, value_node, op)

    # -- loops ---------------------------------------------------------------------------------
    def loop(self, frame: Frame, node: ast.For) -> None:
        it = X.value(frame, node.iter)
        if not isinstance(it, V.Seq):
            raise X.error(frame, node, f"a loop over {frame.source.segment(node.iter)} cannot "
                                       "be unrolled: derive reads loops over layers, and "
                                       "vectorised code over the examples")
        for item in list(it.items):
            self.count(1, node)
            if isinstance(node.target, ast.Tuple | ast.List):
                self.unpack(frame, node.target, item, node)
            else:
                self.store(frame, node.target, item, None, None)
            try:
                self.block(frame, node.body)
            except _Break:
                break
            except _Continue:
                continue
        else:
            self.block(frame, node.orelse)

    # -- calls ----------------------------------------------------------------------------------
    def side_effect(self, frame: Frame, node: ast.Call) -> None:
        fn = node.func
        if isinstance(fn, ast.Attribute) and fn.attr == "append":
            owner = X.value(frame, fn.value)
            if isinstance(owner, V.Seq) and owner.what not in LISTS and len(node.args) == 1:
                owner.items.append(X.value(frame, node.args[0]))

    def function(self, frame: Frame, fn) -> V.Func | None:
        return C.function(self, frame, fn)

    def inline(self, frame: Frame, func: V.Func, args: list, kwargs: dict, node) -> V.Value:
        return C.inline(self, frame, func, args, kwargs, node)

    def item(self, frame: Frame, container, key, node) -> V.Value:
        return R.item(self, frame, container, key, node)

    def self_attribute(self, frame: Frame, attr: str, node) -> V.Value:
        return R.self_attribute(self, frame, attr, node)

    def call_body(self, source, env: dict, layer, fname: str, depth: int, body) -> V.Value:
        """A called function's body in a frame of its own: the value it returns."""
        try:
            self.block(Frame(self, source, env, layer, fname, False, depth), body)
        except _Return as ret:
            return ret.value
        return V.Null()


__all__ = ["SECONDS", "STATEMENTS", "Entry", "Frame", "Reader", "Reading"]
