"""A numbers file by its kind: JSON or TOML (:mod:`derive.numbers.inputs`) or a LaTeX fragment
(:mod:`derive.numbers.latex`), both read into the same :class:`~derive.numbers.inputs.NumbersInput`."""

from __future__ import annotations

from pathlib import Path

from derive.errors import ParseError
from derive.limits import Limit
from derive.network.textfile import read_bounded
from derive.numbers.inputs import NumbersInput, parse_mapping_text
from derive.numbers.latex import parse_latex

#: a numbers file: seed 003's is 1 kB; a file this size already holds the 100,000 numbers
#: numbers.entries allows
FILE_BYTES = Limit("numbers.file_bytes", 1 << 20, "bytes", "a smaller FILE", "a numbers file")
MAX_FILE_BYTES = FILE_BYTES.value


def read_file(path: str | Path, latex: bool = False) -> NumbersInput:
    """A numbers file: JSON or TOML (by content), a LaTeX fragment with ``latex=True``, or a
    numpy ``.npz`` archive (its arrays by name); at most :data:`FILE_BYTES`, UTF-8."""
    p = Path(path)
    if p.suffix.lower() == ".npz":
        return read_npz(p)
    text = read_bounded(p, FILE_BYTES, "numbers file", error=ParseError)
    if latex or p.suffix.lower() in (".tex", ".latex"):
        return parse_latex(text)
    return parse_mapping_text(text, str(p))


def read_npz(p: Path) -> NumbersInput:
    """The arrays of a ``.npz`` archive (``np.savez("case.npz", X=X, W1=W1, ...)``) as given
    values, by name; never unpickled (``allow_pickle=False``: an object array is refused), at
    most :data:`FILE_BYTES` and :data:`derive.numbers.inputs.ENTRIES` numbers. Booleans are
    read as 1/0 (noted); integer labels stay integers (one-hot for a softmax output)."""
    import numpy as np

    from derive.limits import require
    from derive.numbers.inputs import ENTRIES

    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ParseError(f"{p}: cannot read ({exc.strerror})") from None
    require(FILE_BYTES, size, str(p))
    values: dict = {}
    notes: list[str] = []
    count = 0
    try:
        with np.load(p, allow_pickle=False) as archive:
            for name in archive.files:  # sizes from the headers first: a compressed archive of
                count += _npz_entries(archive, name)  # 1 MB can hold gigabytes of zeros
                require(ENTRIES, count, str(p))
            for name in archive.files:
                arr = archive[name]
                if arr.dtype.kind not in "biuf":
                    raise ParseError(f"{p}: {name} is a {arr.dtype} array, not numbers")
                if arr.dtype == bool:
                    notes.append(f"{name}: booleans read as 1/0")
                    arr = arr.astype(float)
                values[name] = arr
    except (ValueError, OSError, EOFError) as exc:  # not an archive, or pickled objects
        raise ParseError(f"{p}: not a numpy .npz archive of numeric arrays ({exc})") from None
    return NumbersInput(None, values, (), None, tuple(notes))


def _npz_entries(archive, name: str) -> int:
    """The number of entries of ``name`` in an open ``.npz``, from its ``.npy`` header alone."""
    import math

    import numpy as np

    with archive.zip.open(name + ".npy") as f:
        version = np.lib.format.read_magic(f)
        reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, _, _ = reader(f)
    return math.prod(shape)
