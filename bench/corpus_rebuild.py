"""Rebuild the local-only corpus texts (tests/data/corpus/**/text files) from the committed indexes.

The texts are never committed (tests/data/corpus/README.md); a session rebuilds them with this
script in a few minutes instead of by hand:

1. bring each repository the indexes name onto this machine as a bare mirror under ``MIRRORS``
   (``$DERIVE_CORPUS_MIRRORS``, default /work/.mirror/owner+name/repo: the search tool's fetch);
2. for items whose source is a web page, keep their fields in a JSON file ``{id: {field: text}}``
   (``$DERIVE_CORPUS_WEB``) cut by hand from the stored page: this script does not fetch pages;
3. ``python bench/corpus_rebuild.py``: rewrites the four text files in index order and lists
   what is missing and why. Re-runnable; a missing mirror only skips its items.

Notebook lines are decoded as the JSON strings they are; ``elided_lines`` are skipped; a LaTeX
formula left open on its cited line is extended to where its block closes, and its ``context``
is the lines before it (the original contexts are not recoverable).
"""
import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus"
MIRRORS = Path(os.environ.get("DERIVE_CORPUS_MIRRORS", "/work/.mirror"))
WEB = Path(os.environ.get("DERIVE_CORPUS_WEB", "/tmp/corpus/web.json"))  # id -> row fields
JOBS = [("code/formulas.index.jsonl", "code/formulas.text.jsonl", "code"),
        ("code/functions.index.jsonl", "code/functions.text.jsonl", "code"),
        ("latex/index.jsonl", "latex/text.jsonl", "latex"),
        ("regularisation/index.jsonl", "regularisation/text.jsonl", "reg")]
SRC = re.compile(r"^([\w.-]+/[\w.-]+):(.+)@([0-9a-f]{40})#(L\d+(?:-L?\d+)?(?:,L\d+(?:-L?\d+)?)*)$")
_cache = {}


def mirror(repo):
    base = MIRRORS / repo.replace("/", "+") / "repo"
    for cand in (base / ".git", base):
        if (cand / "HEAD").exists() or (cand / "objects").exists():
            return cand
    return None


def file_lines(repo, commit, path):
    key = (repo, commit, path)
    if key not in _cache:
        gd = mirror(repo)
        if gd is None:
            raise LookupError(f"mirror absent: {repo}")
        p = subprocess.run(["git", f"--git-dir={gd}", "show", f"{commit}:{path}"], capture_output=True)
        if p.returncode:
            err = p.stderr.decode()[:120].strip()
            raise LookupError(f"git show failed: {repo}@{commit[:7]}:{path}: {err}")
        _cache[key] = p.stdout.decode("utf-8").split("\n")
    return _cache[key]


def decode(line, path):
    if not path.endswith(".ipynb"):
        return line
    s = line.strip().rstrip(",")
    if not s.startswith('"'):
        raise LookupError(f"not a JSON string line in {path}: {line[:60]!r}")
    return json.loads(s)


def spans(source):
    out = []
    for s in source if isinstance(source, list) else [source]:
        m = SRC.match(s)
        if not m:
            return None
        repo, path, commit, ranges = m.groups()
        for r in ranges.split(","):
            a, _, b = r.lstrip("L").partition("-")
            out.append((repo, path, commit, int(a), int(b.lstrip("L") or a)))
    return out


def code_text(item, sp):
    elided = set(item.get("elided_lines") or [])
    parts = []
    for repo, path, commit, a, b in sp:
        lines = file_lines(repo, commit, path)
        for n in range(a, b + 1):
            if n in elided:
                continue
            t = decode(lines[n - 1], path)
            parts.append(t if t.endswith("\n") else t + "\n")
    text = "".join(parts)
    return text[:-1] if text.endswith("\n") else text


MATH = re.compile(r"(?s)\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$")


def pick_latex(item, line):
    segs = [next(g for g in m.groups() if g is not None) for m in MATH.finditer(line)]
    if not segs:
        s = line.strip()
        s = re.sub(r"\\\\\s*$", "", s).strip()
        for env in ("\\begin{equation}", "\\end{equation}", "\\begin{equation*}", "\\end{equation*}"):
            s = s.replace(env, "")
        s = re.sub(r"^\$+|(?<!\\)\$+$", "", s.strip()).strip()
        segs = [s.replace("&", "").strip()]
    keys = list(item.get("meaning") or {})
    def score(s):
        return (sum(k in s for k in keys), len(s))
    best = max(segs, key=score).strip()
    return re.sub(r"\s*[.,]$", "", best)


def _dec(lines, n, path):
    try:
        return decode(lines[n - 1], path).rstrip("\n")
    except (LookupError, ValueError, IndexError):
        return None


def formula_lines(lines, a, b, path):
    """The cited line(s), extended to the end of a formula left open on them."""
    raw = [_dec(lines, n, path) for n in range(a, b + 1)]
    first = raw[0]
    env = re.search(r"\\begin\{(array|align\*?|aligned|equation\*?|eqnarray\*?)\}", first)
    n = b
    if env and ("\\end{" + env.group(1) + "}") not in first:
        while n < len(lines) and ("\\end{" + env.group(1) + "}") not in (raw[-1] or ""):
            n += 1
            t = _dec(lines, n, path)
            if t is None:
                break
            raw.append(t)
        return raw
    toks = list(re.finditer(r"\$\$|(?<!\\)\$", first))
    if toks:
        if len(toks) % 2 == 1 and first[toks[-1].end():].strip():
            while n < len(lines):
                n += 1
                t = _dec(lines, n, path)
                if t is None:
                    break
                if t.strip().startswith("$"):
                    break
                raw.append(t)
                if "$" in t:
                    break
        return raw
    if first.rstrip().endswith("\\\\"):
        return raw
    while n < len(lines):
        n += 1
        t = _dec(lines, n, path)
        if t is None or not t.strip() or t.strip().startswith("$") or "\\end{" in t:
            break
        raw.append(t)
        if t.rstrip().endswith("$"):
            break
    return raw


def latex_row(item, sp):
    repo, path, commit, a, b = sp[0]
    lines = file_lines(repo, commit, path)
    raw = formula_lines(lines, a, b, path)
    block = "\n".join(raw)
    segs = [next(g for g in m.groups() if g is not None) for m in MATH.finditer(block)] if "\n" in block else []
    latex = pick_latex(item, block) if "\n" not in block else (max(segs, key=len).strip() if segs else block)
    if "\n" in block:
        latex = re.sub(r"^[^$]*\$\$?", "", latex) if not segs and "$" in latex.split("\n")[0] else latex
        latex = re.sub(r"\\\\\s*$", "", latex.strip().rstrip("$").strip()).strip()
        latex = re.sub(r"\s*[.,]$", "", latex)
    if "second of two formulas separated by a full-width comma" in (item.get("notes") or ""):
        latex = re.split(r"\\;\s*，\s*\\;|，", latex, maxsplit=1)[1].strip()
    ctx, n = [], a - 1
    while n >= 1 and len(" ".join(ctx)) < 300 and a - n < 12:
        try:
            t = decode(lines[n - 1], path).strip()
        except (LookupError, ValueError):
            break
        if t:
            ctx.insert(0, t)
        n -= 1
    context = " ".join(ctx).strip() or item.get("notes") or item["network"]["as_written"]
    return {"id": item["id"], "latex": latex, "context": context}


def main():
    web = json.loads(WEB.read_text()) if WEB.exists() else {}
    missing, total = [], 0
    for index, text, kind in JOBS:
        rows = []
        for line in (ROOT / index).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            sp = spans(item["source"])
            try:
                if sp is None:
                    if item["id"] in web:
                        rows.append({"id": item["id"], **web[item["id"]]})
                        continue
                    raise LookupError(f"web page: {item['source']}")
                if kind == "latex":
                    rows.append(latex_row(item, sp))
                else:
                    rows.append({"id": item["id"], "text": code_text(item, sp)})
            except (LookupError, IndexError, ValueError) as exc:
                missing.append((index, item["id"], str(exc)))
        with open(ROOT / text, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        total += len(rows)
        print(f"{text}: {len(rows)} written")
    print(f"total {total} written, {len(missing)} missing")
    for m in missing:
        print("  MISSING", *m)


if __name__ == "__main__":
    main()
