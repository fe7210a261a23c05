"""One scale for known items and arrivals: the newness shift.

An item without interactions is scored from its photo, calibrated to the
known items' scores by least squares (:func:`cold_start.calibration`). That
pulls its score towards the known items' mean, so in a ranking of the whole
catalog a new item almost never outranks a known one: on H&M the hybrid put
0% new articles in any top 20 while 68% of the next purchases were new.

How much the future belongs to arrivals depends on the shop (most fashion
purchases are of new articles, few film ratings are of new releases), so it
is learned: every item without interactions gets ``shift`` times the user's
spread of scores over the known items (``sigma_u``). The shift is chosen on a
validation that does what the nightly job does: each validation user ranks
the whole catalog, held-out known and pseudo-new items together, against
their held-out positives. Among the shifts whose top K holds at most the
arrivals' fair share (their share of those positives), the one with the best
NDCG@K wins. The ceiling keeps the composition calibrated (Steck, RecSys
2018: a list should not hold more of a kind than the behaviour does; by NDCG
alone, a shop whose arrivals are each more likely than a known item would get
only arrivals); below it, quality decides (film ratings of new releases are
so rare that none at all ranks best). Where the final model's catalog holds
arrivals already (items without interactions), the shift is solved again on it
so that they take the share of each top K that validation chose
(:func:`solve_shift`; :meth:`HybridScorer._solve_newness_shift`).

First the new items' scores are stretched to spread as the known items' do
(the least-squares calibration shrinks them towards their mean: with every
arrival scored alike, a shift would move them all past the known items at
once), then moved by the shift. Scoring stays one product (:func:`with_shift`):
one more column. A shift in each user's spread, not one constant: users'
score scales differ (heavy users have longer vectors), and a shift in
standard deviations means the same for each of them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import ranking_metrics, share_in_top
from recsys.models.cold_start import item_moments, user_moments
from recsys.scoring import chunked_top_k

#: shifts tried on validation, in each user's standard deviations of known-item scores
#: (0: the least-squares calibration alone; the top 20 of a large catalog sits near +3)
SHIFTS = tuple(float(s) for s in np.round(np.arange(0.0, 8.01, 0.25), 2))
#: new items needed to measure their spread (with fewer, their scores are not stretched), and the
#: bound of the stretch either way
MIN_NEW_ITEMS, MAX_SCALE = 20, 20.0


def reference(item_vectors: np.ndarray, warm: np.ndarray, new_like: np.ndarray | None = None) -> dict:
    """What :func:`user_spread` needs of the items: the moments (:func:`item_moments`) of the known items'
    vectors and of the new items' (``new_like``: vectors of items scored as new ones are, the
    catalog's photos, standing for them where there are fewer than ``MIN_NEW_ITEMS``: a model
    trained before its arrivals came), and how many new items those are."""
    warm = np.asarray(warm, bool)
    known, new = item_vectors[warm] if warm.any() else item_vectors, item_vectors[~warm]
    if new_like is not None and len(new) < MIN_NEW_ITEMS:
        new = new_like
    return {"known": item_moments(known), "new": item_moments(new) if len(new) else None, "new_items": len(new)}


def user_spread(user_vectors: np.ndarray, items: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(sigma_u, mu_u, new sigma_u, new items counted)``: each user's spread of known-item scores,
    and the mean and spread of new-item scores, over the items of ``items`` (:func:`reference`)."""
    sigma = user_moments(user_vectors, items["known"])[1]
    mu, new_sigma = (user_moments(user_vectors, items["new"]) if items["new"] is not None
                     else (np.zeros(len(sigma)), sigma))
    return sigma, mu, new_sigma, items["new_items"]


def moments(user_vectors: np.ndarray, item_vectors: np.ndarray, warm: np.ndarray,
            new_like: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`user_spread` of ``user_vectors`` over these items."""
    return user_spread(user_vectors, reference(item_vectors, warm, new_like))


def user_column(spread_of_users, shift: float, scale: float) -> np.ndarray:
    """The users' newness column: ``shift * sigma_u + (1 - scale) * mu_u`` (:func:`with_shift`)."""
    sigma, mu, _, _ = spread_of_users
    return (shift * sigma + (1.0 - scale) * mu).astype(np.float32)


def stretch(spread) -> float:
    """The default stretch of :func:`with_shift` from :func:`moments`: the median over users of the
    known items' spread over the new items', bounded by ``MAX_SCALE`` either way (1 with under
    ``MIN_NEW_ITEMS`` new items)."""
    sigma, _, new_sigma, n_new = spread
    scale = float(np.median(sigma / new_sigma)) if n_new >= MIN_NEW_ITEMS and len(sigma) else 1.0
    return float(np.clip(scale, 1.0 / MAX_SCALE, MAX_SCALE))


def with_shift(user_vectors: np.ndarray, item_vectors: np.ndarray, warm: np.ndarray, shift: float,
               scale: float | None = None, new_like: np.ndarray | None = None, spread=None):
    """``(users, items, scale)`` with the newness column appended: new items' vectors times
    ``scale`` and 1 in it, known items 0; users ``shift * sigma_u + (1 - scale) * mu_u``.

    So a user's new-item scores keep their mean ``mu_u`` and are stretched by ``scale``
    (default: :func:`stretch`, so known and new items spread alike), then moved up by
    ``shift`` known-item spreads ``sigma_u``. ``spread``: :func:`moments`, when the caller
    tries many shifts (default: computed here, with ``new_like``).
    """
    warm = np.asarray(warm, bool)
    if spread is None:
        spread = moments(user_vectors, item_vectors, warm, new_like)
    scale = stretch(spread) if scale is None else scale
    column = user_column(spread, shift, scale)
    items = np.where(warm[:, None], item_vectors, scale * item_vectors)
    return (np.hstack([user_vectors, column[:, None]]).astype(np.float32),
            np.hstack([items, (~warm).astype(np.float32)[:, None]]).astype(np.float32), scale)


def ranked(user_vectors, item_vectors, warm, shift: float, seen: sp.csr_matrix | None, k: int,
           scale: float, spread) -> np.ndarray:
    """The users' top ``k`` item indices with ``shift`` and ``scale`` (:func:`with_shift`), ``seen`` excluded."""
    users, items, _ = with_shift(user_vectors, item_vectors, warm, shift, scale, spread=spread)
    tops = [idx for _, idx, _ in chunked_top_k(users, items, k, seen)]
    return np.vstack(tops) if tops else np.zeros((0, k), np.int64)


def shift_results(user_vectors: np.ndarray, item_vectors: np.ndarray, warm: np.ndarray, relevant: sp.csr_matrix,
                  seen: sp.csr_matrix, k: int, scale: float) -> dict[float, tuple[float, float]]:
    """``{shift: (NDCG@k, share of new items in the top k)}`` for each of :data:`SHIFTS` when
    ``user_vectors`` rank every item (``relevant``, ``seen``: users x items) against their
    held-out positives."""
    spread, new = moments(user_vectors, item_vectors, warm), ~np.asarray(warm, bool)
    out = {}
    for shift in SHIFTS:
        top = ranked(user_vectors, item_vectors, warm, shift, seen, k, scale, spread)
        out[shift] = (ranking_metrics(top, relevant, k)["ndcg"], share_in_top(top, new))
    return out


def solve_shift(user_vectors, item_vectors, warm, share: float, seen: sp.csr_matrix | None, k: int,
                scale: float) -> float:
    """The shift of :data:`SHIFTS` whose top ``k`` holds the nearest share of new items to
    ``share``: a bisection, since the share grows with the shift."""
    spread, new, shares = moments(user_vectors, item_vectors, warm), ~np.asarray(warm, bool), {}

    def share_at(n):
        if n not in shares:
            shares[n] = share_in_top(ranked(user_vectors, item_vectors, warm, SHIFTS[n], seen, k, scale, spread), new)
        return shares[n]

    low, high = 0, len(SHIFTS) - 1
    while low < high:
        middle = (low + high) // 2
        if share_at(middle) >= share:
            high = middle
        else:
            low = middle + 1
    if low > 0 and abs(share_at(low - 1) - share) <= abs(share_at(low) - share):
        low -= 1
    return SHIFTS[low]


def choose_shift(results: dict[float, tuple[float, float]], fair_share: float) -> float:
    """The shift with the best NDCG among those whose top K holds at most ``fair_share`` new
    items (the smallest shift where several tie; 0 when none stays under it)."""
    allowed = [s for s, (_, share) in results.items() if share <= fair_share + 1e-9] or [0.0]
    return max(sorted(allowed), key=lambda s: results[s][0])
