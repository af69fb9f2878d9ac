"""A bounded load test of ``derive serve`` on loopback (prints figures; asserts none).

    python bench/bench_web.py                      # 500 requests, 16 at a time, 2 workers
    python bench/bench_web.py --requests 100 --concurrency 4

The server runs in a subprocess (``python -m derive serve``, uvicorn); a thread pool of plain
``http.client`` connections sends a fixed mix of requests (``/api/check`` lines in text, numpy
and LaTeX, right and wrong, three networks; ``/api/read`` previews; a few ``/api/backward``),
each answer checked (status 200, JSON, the verdict the same line gives in-process). Reported:
p50 and p95 latency, requests per second, errors (must be 0), the server's resident memory
(itself and its workers) before and after, and as a baseline the same check lines run
in-process one after another (``derive.cli._batch.check_line``), the ratio of the two rates.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NET = {"layers": "3,3,1", "activations": "relu,sigmoid", "loss": "bce"}
DEEP = {"layers": "5,4,3,2", "activations": "relu,tanh,sigmoid", "loss": "bce"}
CE = {"layers": [4, 5, 3], "activations": ["tanh", "softmax"], "loss": "ce"}
CHECKS = [
    {"equation": "dZ1 = W2^T dZ2 * g1'(Z1)", **NET},
    {"equation": "dW1 = np.dot(dZ1, X.T)", **NET},
    {"equation": "dZ1 = dZ2 W2^T * g1'(Z1)", **NET},
    {"equation": r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}", **CE},
    {"equation": "db3 = 1/m * np.sum(dZ3, axis=1, keepdims=True)", **DEEP},
    {"equation": "dZ2 = A2 - Y"},
    {"equation": "dA1 = W2.T @ dZ2", **DEEP},
]
READS = [{"equation": c["equation"][: 6 + k]} for c in CHECKS for k in (4, 10)]
BACKWARD = [NET]


def mix(n: int) -> list[tuple[str, dict]]:
    """``n`` requests: mostly checks, a preview for every two checks, a derivation in 25."""
    out: list[tuple[str, dict]] = []
    i = 0
    while len(out) < n:
        if i % 25 == 24:
            out.append(("/api/backward", BACKWARD[i % len(BACKWARD)]))
        elif i % 3 == 2:
            out.append(("/api/read", READS[i % len(READS)]))
        else:
            out.append(("/api/check", CHECKS[i % len(CHECKS)]))
        i += 1
    return out


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: dict) -> tuple[int, bytes, float]:
        data = json.dumps(body).encode()
        start = time.perf_counter()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", path, data, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                payload = r.read()
                return r.status, payload, time.perf_counter() - start
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def start_server(port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "derive", "serve", "--port", str(port),
                             "--workers", str(workers)], cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/capabilities")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("derive serve did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from derive.cli._batch import check_line

    expected = {json.dumps(c): check_line(json.dumps(c))["verdict"] for c in CHECKS}
    start = time.perf_counter()  # the baseline: the same lines in-process, one after another
    base_n = 0
    while time.perf_counter() - start < 3 or base_n < len(CHECKS):
        check_line(json.dumps(CHECKS[base_n % len(CHECKS)]))
        base_n += 1
    baseline = base_n / (time.perf_counter() - start)

    port = free_port()
    proc = start_server(port, args.workers)
    try:
        warm = Client(port)
        for c in CHECKS:
            warm.post("/api/check", c)
        rss_before = rss_kib(proc.pid)
        requests = mix(args.requests)
        clients = [Client(port) for _ in range(args.concurrency)]
        errors: list[str] = []

        def one(item: tuple[int, tuple[str, dict]]) -> float:
            i, (path, body) = item
            status, payload, seconds = clients[i % args.concurrency].post(path, body)
            try:
                answer = json.loads(payload)
            except ValueError:
                errors.append(f"{path}: not JSON ({payload[:80]!r})")
                return seconds
            if status != 200:
                errors.append(f"{path}: {status} {answer}")
            elif path == "/api/check" and answer["verdict"] != expected[json.dumps(body)]:
                errors.append(f"{path}: {answer['verdict']} for {body}")
            return seconds

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            # each client connection is used by one thread at a time: thread i takes items
            # i, i + c, i + 2c, ...
            chunks = [[(i, r) for i, r in enumerate(requests) if i % args.concurrency == k]
                      for k in range(args.concurrency)]
            latencies = [s for chunk in pool.map(lambda ch: [one(x) for x in ch], chunks)
                         for s in chunk]
        wall = time.perf_counter() - t0
        rss_after = rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    rate = len(latencies) / wall
    report = {
        "requests": len(latencies), "concurrency": args.concurrency, "workers": args.workers,
        "errors": len(errors), "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1), "requests_per_s": round(rate, 1),
        "baseline_in_process_checks_per_s": round(baseline, 1),
        "ratio_to_baseline": round(rate / baseline, 2),
        "rss_before_mib": round(rss_before / 1024, 1), "rss_after_mib": round(rss_after / 1024, 1),
    }
    for line in errors[:10]:
        print("error:", line)
    print(json.dumps(report, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
