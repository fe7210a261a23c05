"""The top-K selection kernel: exact, one pass over the scores, compiled with numba.

A full ``argpartition`` of a 20k-wide row costs several times the matrix
product that made it. Here each row keeps its best ``k`` so far, sorted,
and scores are read once, ``BLOCK`` at a time: a block with nothing above
the worst kept (almost every block, once the list has filled) costs one
vectorised comparison pass; a score above it is inserted in its place.
Scores may come in column tiles small enough to stay in cache
(:func:`recsys.scoring.chunked_top_k`), the lists carrying over from one
tile to the next. Columns are visited in order and a score must beat the
worst strictly, so ties go to the lower column, as in a stable full sort.
Everything runs without the GIL, so threads rank slices of users side by side.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 64  # scores per comparison pass: 16 and 256 were slower at 20k items, 32 to 128 alike


def empty_top_k(rows: int, k: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``(values, indices)`` for :func:`offer`: ``k`` empty slots (score ``-inf``, column ``-1``) per row."""
    return np.full((rows, k), -np.inf, dtype), np.full((rows, k), -1, np.int64)


@numba.njit(nogil=True, cache=True)
def offer(scores, first_column, values, indices, seen_indptr, seen_indices) -> None:
    """Merge ``scores`` (columns numbered from ``first_column``) into each row's best list, kept best first.

    Scores of ``-inf`` and NaN never enter. Neither do columns listed for the
    row in the CSR arrays ``seen_indptr``/``seen_indices`` (sorted per row;
    ``seen_indptr`` all zeros for none): they are skipped where they would
    enter, so nothing has to be written into ``scores``.
    """
    rows, n = scores.shape
    k = values.shape[1]
    if k == 0:
        return
    full = n - n % BLOCK
    for r in range(rows):
        row, best, best_columns = scores[r], values[r], indices[r]
        seen = seen_indices[seen_indptr[r]:seen_indptr[r + 1]]
        worst = best[k - 1]  # a local: no store in the loop below can change it, so the loop vectorises
        for start in range(0, full, BLOCK):
            block = row[start:start + BLOCK]  # a slice counted from 0: LLVM drops the negative-index checks
            above = 0
            for j in range(block.shape[0]):
                above += block[j] > worst
            if above:
                worst = _insert(row, start, start + BLOCK, first_column, seen, best, best_columns)
        _insert(row, full, n, first_column, seen, best, best_columns)


@numba.njit(inline="always")
def _insert(row, start, stop, first_column, seen, best, best_columns):
    """Insert each score of ``row[start:stop]`` above the worst kept in its sorted place; return the new worst."""
    k = len(best)
    for j in range(start, stop):
        score = row[j]
        if score > best[k - 1]:
            column = j + first_column
            at = np.searchsorted(seen, column)
            if at < len(seen) and seen[at] == column:
                continue
            pos = k - 1  # shift worse entries down; an equal score stays ahead, having the lower column
            while pos > 0 and best[pos - 1] < score:
                best[pos], best_columns[pos] = best[pos - 1], best_columns[pos - 1]
                pos -= 1
            best[pos], best_columns[pos] = score, column
    return best[k - 1]
