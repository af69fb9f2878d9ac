"""What one stability run costs, estimated from depth, width, batch and init before anything is
drawn, against the declared limits.

Per layer (width n, batch b) a run draws W[l] (n² normals; a QR factorisation for orthogonal
weights) in the forward pass and again in the backward pass unless the weights are kept, forms
Z = W a and δ = Wᵀ(δ ⊙ g′(z)) (2·n²·b multiply-adds) and takes two spectral norms (W[l] and
example 0's J[l]: a full SVD up to width 96, Lanczos above it). The work is counted in
*operations*, one being a multiply-add of a matrix product; the other parts are weighted by what
they cost on this machine relative to it (one core, measured with ``OPENBLAS_NUM_THREADS=1``:
about 21 × 10⁹ multiply-adds per second, 80 × 10⁶ normals per second, 0.13-0.2 ns per n³ of a
QR factorisation, 25-75 ns per entry for a Lanczos norm, about 40 ns per entry of the n × b
arrays for g(z), g′(z) and the norms, 0.2 ms of Python per layer).

Memory: the stored g′(z) (depth × n × b floats), the weights when kept, a chunk of matrices whose
norms are taken together, and a few n × n and n × b arrays.

>>> w = estimate(depth=8, width=4096, batch=1024, init="xavier")
>>> w.operations > WORK.value, w.bytes < MEMORY.value
(True, True)
>>> estimate(depth=50, width=64, batch=32, init="xavier").operations < WORK.value
True
"""

from __future__ import annotations

from dataclasses import dataclass

from derive.limits import FLOAT, Limit, require

#: layers: the text table, the fit and the per-layer Python work stay small (depth 1,000 at width
#: 16 takes under a second); the forward and backward pass are a loop over the layers
DEPTH = Limit("stability.depth", 1000, "layers", "--depth", "the network")
#: about 15 s on one core of this machine (3 × 10¹¹ multiply-adds at 2 × 10¹⁰ a second): measured
#: with one BLAS thread, runs at 0.6-0.96 of it took 8.5-21 s (depth 1,000 at width 256, the
#: benchmark, is 0.81: 8.5 s); the issue's depth 8 at width 4096 with batch 1024 is 2.6 times it
WORK = Limit("stability.work", 300_000_000_000, "operations", "--depth, --width or --batch",
             "the run")
#: the arrays one run holds at once, under the 2 GB a command may use (numpy and SymPy add about
#: 150 MB)
MEMORY = Limit("stability.memory", 1_500_000_000, "bytes", "--batch or --width", "the run")
#: runs of one sweep (depths × activations × inits)
SWEEP_RUNS = Limit("stability.sweep_runs", 60, "runs", "--depths, --inits or --act", "the sweep")
#: every run of a sweep together: the same budget as one run
SWEEP_WORK = Limit("stability.sweep_work", WORK.value, "operations",
                   "--depths, --inits, --act or --width", "the sweep")

SVD_WIDTH = 96  # up to this width ‖·‖₂ comes from a full SVD; above, from Lanczos
NORM_CHUNK = 8  # layers whose two matrices (W[l], J[l]) get their norms in one batch, at most
CHUNK_BYTES = 256 << 20  # ... and at most this many bytes of matrices in one batch
KEEP_BYTES = 256 << 20  # the weights are kept for the backward pass up to this size

# the cost of each part, in multiply-adds of a matrix product (see the module docstring)
DRAW, QR, SVD, LANCZOS, LAYER, ELEMENT = 250, 4, 10, 1500, 4_000_000, 800


@dataclass(frozen=True)
class Work:
    """The estimate of one run: ``operations`` (multiply-add equivalents) and ``bytes``."""

    operations: int
    bytes: int


def norm_chunk(width: int, depth: int) -> int:
    """Layers per batch of spectral norms: :data:`NORM_CHUNK`, fewer when 2 matrices per layer
    would pass :data:`CHUNK_BYTES` (every width up to 1448 keeps 8)."""
    per_layer = 2 * width * width * FLOAT
    return max(1, min(NORM_CHUNK, CHUNK_BYTES // per_layer, depth))


def keeps_weights(depth: int, width: int) -> bool:
    """Whether the forward pass keeps every W[l] for the backward pass (else it draws it again)."""
    return depth * width * width * FLOAT <= KEEP_BYTES


def estimate(depth: int, width: int, batch: int, init: str) -> Work:
    """The work and memory of ``analyse(depth, width, batch=batch, init=init)``."""
    n, b, L = width, batch, depth
    draws = 1 if keeps_weights(L, n) else 2
    draw = 0 if init == "identity" else DRAW * n * n + (QR * n**3 if init == "orthogonal" else 0)
    norm = SVD * n**3 if n <= SVD_WIDTH else LANCZOS * n * n
    per_layer = 2 * n * n * b + draws * draw + 2 * norm + ELEMENT * n * b + LAYER
    chunk = norm_chunk(n, L)
    kept = L * n * n if draws == 1 else 0
    floats = (L * n * b  # g′(z) of every layer
              + kept
              + 2 * chunk * n * n  # the matrices whose norms are taken together
              + (2 * chunk * n * 81 if n > SVD_WIDTH else 0)  # Lanczos vectors
              + 4 * n * n  # W, its QR factors, J
              + 8 * n * b)  # a, z, g′(z), δ and their temporaries
    return Work(L * per_layer, FLOAT * floats)


def require_run(depth: int, width: int, batch: int, init: str) -> Work:
    """Refuse (``ResourceLimit``) a run over :data:`DEPTH`, :data:`WORK` or :data:`MEMORY`."""
    what = f"a run of depth {depth}, width {width} and batch {batch}"
    require(DEPTH, depth)
    w = estimate(depth, width, batch, init)
    require(WORK, w.operations, what)
    require(MEMORY, w.bytes, what)
    return w


def require_sweep(runs: list[tuple[int, str]], width: int, batch: int) -> None:
    """Refuse a sweep over :data:`SWEEP_RUNS`, or whose runs (depth, init) together pass
    :data:`SWEEP_WORK`; each run is also checked on its own."""
    what = f"a sweep of {len(runs)} runs"
    require(SWEEP_RUNS, len(runs), "the sweep (depths × activations × inits)")
    total = 0
    for depth, init in runs:
        total += require_run(depth, width, batch, init).operations
    require(SWEEP_WORK, total, what)
