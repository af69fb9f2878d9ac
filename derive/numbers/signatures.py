"""The courses' own function signatures for ``gradcheck --impl``, called without an adapter.

- ``backward(parameters, X, Y) -> grads`` (derive's own, and the course's ``backward_propagation``
  style): keys ``dW1``, ``db1``, ...; a returned ``(grads, cost)`` pair is read too;
- logistic regression's ``propagate(w, b, X, Y) -> (grads, cost)``: ``w`` is the column W[1]ᵀ,
  ``b`` a number, keys ``dw`` and ``db``;
- CS231n's models: a class (``TwoLayerNet``) built with the network's sizes, or an object with a
  ``params`` dict and a ``loss(X, y) -> (loss, grads)`` method: parameters ``W1``, ``b1`` with 1-D
  biases, integer class labels ``y``, gradients keyed by the parameter's own name.

Each conversion is stated in a note (``what_converted``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from derive.errors import DeriveError
from derive.network import model
from derive.network.spec import Network
from derive.numbers.differences import param_keys


def call_course(fn, net: Network, instance: model.Instance) -> tuple[object, tuple[str, ...]]:
    """Call the user's ``fn`` in the style its signature shows; (what it returned, read as
    ``{"dW1": ..., "db1": ...}`` where a conversion was needed, notes on what was converted)."""
    named = {f"{b}{l}": np.array(instance.params[b, l], copy=True) for b, l in param_keys(net)}
    X, Y = instance.X.copy(), instance.Y.copy()
    if inspect.isclass(fn):
        return _cs231n(_build(fn, net), net, named, X, instance)
    owner = getattr(fn, "__self__", None)
    if owner is not None and isinstance(getattr(owner, "params", None), dict):
        return _cs231n(owner, net, named, X, instance)
    names = _parameters(fn)
    if len(names) == 4 and names[0].lower() == "w" and net.L == 1:
        return _logistic(fn, net, named, X, Y)
    if any(_role(n) == "cache" for n in names):
        raise DeriveError(f"the function takes a cache ({', '.join(names)}): give the forward "
                          "pass that makes it with --forward MODULE:FUNCTION (forward= in Python)")
    hyper, notes = _hyper(fn, net)
    out = fn(named, X, Y, **hyper)
    return _grads_of(out), notes


def _parameters(fn: Callable) -> list[str]:
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.default is inspect.Parameter.empty]
    except (TypeError, ValueError):  # a builtin or a C function: the default signature
        return []


def _grads_of(out):
    """A ``(grads, cost)`` or ``(cost, grads)`` pair's dict; anything else as it is."""
    if isinstance(out, tuple) and len(out) == 2:
        dicts = [x for x in out if isinstance(x, dict)]
        if len(dicts) == 1:
            return dicts[0]
    return out


def _logistic(fn, net: Network, named: dict, X, Y):
    """``propagate(w, b, X, Y)``: w = W[1]ᵀ (n×1), b the number b[1]; dw back as dW[1]ᵀ."""
    if not net.layout.columns:
        raise DeriveError("propagate(w, b, X, Y) is the course's logistic regression: columns "
                          "convention (drop --convention rows)")
    w, b = named["W1"].T.copy(), float(named["b1"].item())
    out = _grads_of(fn(w, b, X, Y))
    if not isinstance(out, dict) or "dw" not in out or "db" not in out:
        return out, ()
    dw = np.asarray(out["dw"], dtype=float)
    grads = {"dW1": dw.T if dw.shape == w.shape else dw,
             "db1": np.asarray(out["db"], dtype=float).reshape(named["b1"].shape)}
    return grads, (f"logistic regression propagate(w, b, X, Y): w = W1ᵀ ({w.shape[0]}×1), b a "
                   "number; dw read as dW1ᵀ, db as db1",)


def _build(cls, net: Network):
    """A CS231n model class built for the network's sizes (fc_net's keywords, else
    neural_net's positional input, hidden, output sizes)."""
    n = [int(s) for s in net.layers if s is not None]
    tries: list[tuple[tuple, dict]] = []
    if net.L == 2:
        tries += [((), {"input_dim": n[0], "hidden_dim": n[1], "num_classes": n[2], "reg": 0.0}),
                  ((n[0], n[1], n[2]), {})]
    tries += [((), {"input_dim": n[0], "hidden_dims": n[1:-1], "num_classes": n[-1], "reg": 0.0}),
              ((), {})]
    errors = []
    for args, kwargs in tries:
        try:
            return cls(*args, **kwargs)
        except TypeError as exc:
            errors.append(str(exc))
    raise DeriveError(f"cannot build {cls.__name__} for sizes {','.join(map(str, n))}: "
                      + "; ".join(errors[:2]))


def _cs231n(obj, net: Network, named: dict, X, instance: model.Instance):
    """``obj.params`` set to ours (1-D biases), ``obj.loss(X, y)`` with integer labels (random
    targets that are not one-hot are made one-hot first, at their largest entry)."""
    if net.layout.columns:
        raise DeriveError("a CS231n model (loss(X, y) -> (loss, grads)) is in the rows "
                          "convention: add --convention rows")
    if not hasattr(obj, "loss"):
        raise DeriveError(f"{type(obj).__name__} has no loss(X, y) method")
    obj.params = {k: (v.reshape(-1) if k.startswith("b") else v) for k, v in named.items()}
    notes = ["CS231n model: parameters W1, b1, ... set in its params with 1-D biases; "
             "gradients keyed W1, b1 read as dW1, db1"]
    Y = instance.Y
    y = np.argmax(Y, axis=1)
    if not (np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1)):
        instance.Y = np.eye(Y.shape[1])[y]
        notes.append("targets made one-hot at their largest entry (CS231n's integer labels)")
    notes.append(f"one-hot Y passed as integer labels y of shape ({y.size},)")
    out = obj.loss(X, y)
    grads = _grads_of(out)
    if not isinstance(grads, dict):
        return grads, tuple(notes)
    converted = {}
    for key, value in grads.items():
        name = str(key)
        base = name if name.startswith("d") else "d" + name
        shape = named.get(base[1:], None)
        arr = np.asarray(value)
        converted[base] = arr.reshape(shape.shape) if shape is not None and arr.size == shape.size \
            and arr.ndim == 1 else value
    if getattr(obj, "reg", 0):
        notes.append(f"the model's reg = {obj.reg} adds its penalty to the loss: give --l2 "
                     f"{obj.reg} --l2-form plain (reg·Σ‖W‖², CS231n since 2017) or half "
                     "(½·reg·Σ‖W‖²), or build it with reg=0")
    return converted, tuple(notes)


_ROLES = {"x": "X", "xassess": "X", "y": "Y", "yassess": "Y", "parameters": "params",
          "params": "params", "cache": "cache", "caches": "cache"}


def _role(name: str) -> str:
    """What a parameter of a course function stands for, by its name (``AL``, ``A2``, ``A3``,
    ``yhat`` are the forward pass's output)."""
    s = name.replace("_", "").casefold()
    if s in _ROLES:
        return _ROLES[s]
    if s in ("al", "yhat", "a", "output", "probs") or (s[:1] == "a" and s[1:].isdigit()):
        return "output"
    return "?"


def call_pair(forward, backward, net: Network, instance: model.Instance
              ) -> tuple[object, tuple[str, ...]]:
    """A course's forward/backward pair (``forward_propagation(X, parameters) -> (A2, cache)``
    with ``backward_propagation(parameters, cache, X, Y)``, ``L_model_forward`` with
    ``L_model_backward(AL, Y, caches)``, ``forward_propagation_n(X, Y, parameters) -> (cost,
    cache)`` with ``backward_propagation_n(X, Y, cache)``): the arguments are matched by name,
    the forward pass's cache handed to the backward pass."""
    named = {f"{b}{l}": np.array(instance.params[b, l], copy=True) for b, l in param_keys(net)}
    have = {"X": instance.X.copy(), "Y": instance.Y.copy(), "params": named}
    f_hyper, notes = _hyper(forward, net)
    b_hyper, b_notes = _hyper(backward, net)
    fwd = [n for n in _parameters(forward) if n not in f_hyper]
    unknown = [n for n in fwd if _role(n) not in ("X", "Y", "params")]
    if unknown:
        raise DeriveError(f"--forward: cannot tell what {', '.join(unknown)} stand(s) for (known: "
                          "X, Y, parameters)")
    out = forward(*(have[_role(n)] for n in fwd), **f_hyper)
    if not isinstance(out, tuple) or len(out) < 2:
        raise DeriveError("--forward returned no (output, cache) pair")
    have["cache"], first = out[-1], out[0]
    if net.keep_prob is not None:
        notes += _masks_from(have["cache"], net, instance)
    if np.ndim(first) > 0:
        have["output"] = first
    bwd = [n for n in _parameters(backward) if n not in b_hyper]
    unknown = [n for n in bwd if _role(n) not in have]
    if unknown:
        raise DeriveError(f"--impl (the backward function): cannot tell what {', '.join(unknown)} "
                          "stand(s) for (known: X, Y, parameters, cache, the forward output AL)")
    grads = _grads_of(backward(*(have[_role(n)] for n in bwd), **b_hyper))
    used = ", ".join(bwd)
    notes += tuple(n for n in b_notes if n not in notes)
    return grads, (f"forward/backward pair: the forward pass's cache handed to the backward "
                   f"function as its ({used})", *notes)


def _hyper(fn, net: Network) -> tuple[dict, tuple[str, ...]]:
    """The course's hyperparameter arguments, by name, as the network has them: ``keep_prob``
    (one value for every hidden layer, as the course's functions take it) and ``lambd``
    (``lambda_``, the course form's λ); passed by keyword, even where they have a default."""
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}, ()
    out: dict = {}
    notes: list[str] = []
    for name in names:
        s = name.replace("_", "").casefold()
        if s == "keepprob":
            probs = sorted({float(p) for p in net.keep_prob or () if p is not None})
            if len(probs) > 1:
                raise DeriveError(f"{name} is one number, and the network has keep_prob "
                                  f"{', '.join(map(str, probs))}: give one --keep-prob")
            out[name] = probs[0] if probs else 1.0
            notes.append(f"{name} = {out[name]:g} passed by name")
        elif s in ("lambd", "lambda", "lam"):
            if net.l2 is None or net.l2.free_symbols:
                raise DeriveError(f"the function takes {name}: give --l2 with its value "
                                  "(--l2 0.7), the cost then has the same penalty")
            out[name] = float(net.l2)
            notes.append(f"{name} = {out[name]:g} passed by name")
    return out, tuple(notes)


def _masks_from(cache, net: Network, instance: model.Instance) -> tuple[str, ...]:
    """The dropout masks of the user's forward pass (0/1 or boolean arrays of D[l]'s shape in its
    cache, D1, D2, ... by key or in order), put into the instance: the differences then hold the
    same masks fixed as the user's backward pass."""
    found: list[np.ndarray] = []

    def walk(x):
        if isinstance(x, dict):
            for k in sorted(x, key=lambda k: (not str(k).startswith("D"), str(k))):
                walk(x[k])
        elif isinstance(x, tuple | list):
            for v in x:
                walk(v)
        elif isinstance(x, np.ndarray) and x.ndim == 2 and np.isin(x, (0, 1)).all():
            found.append(x.astype(float))

    walk(cache)
    layers = [l for l in range(1, net.L) if net.dropout(l) is not None]
    taken = []
    for l in layers:
        shape = np.shape(instance.params["D", l])
        hit = next((i for i, a in enumerate(found) if a.shape == shape), None)
        if hit is None:
            raise DeriveError(f"the forward pass's cache holds no 0/1 mask of D[{l}]'s shape "
                              f"{shape}: a gradient check with dropout holds your masks fixed")
        instance.params["D", l] = found.pop(hit)
        taken.append(f"D[{l}]")
    return (f"the masks {', '.join(taken)} of your forward pass held fixed in the differences",)
