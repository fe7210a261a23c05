"""Teaching the CNN taste from behaviour: a projection head on the CNN's frozen
features, trained so that a user's history predicts the items they like next.

The head starts as the untrained profile space (the top principal
directions of the centred CNN features, see :mod:`recsys.models.cold_start`)
and is trained with the very score it is used for: for a positive
(user, item), the user's profile must pick the item out of every catalog
item with an image (a full softmax up to ``MAX_CANDIDATES`` items; InfoNCE
in spirit, as in CLCRec). Where times are known the profile is the
normalised mean embedding of the items the user liked *strictly before*
(history predicts the future, as it must for new items; on H&M purchases
the user's other items, same-day basket included, gave a head that ranked
new articles worse than this one: cold NDCG@20 of the hybrid 0.0372 against
0.0386); without times, of their other items. Training stops early on
held-out items drawn like real cold items. The CNN's activations are computed
once and cached (the embedding store), so a CPU trains the head in seconds
to minutes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.holdouts import validation_users
from recsys.evaluation.metrics import ndcg_of_factors
from recsys.models.training import train_epochs
from recsys.quiet import keras, tf  # TensorFlow without its start-up lines
from recsys.scoring import unit_rows

#: InfoNCE temperature on cosine similarities, learning rate (Adam), users per step
TEMPERATURE, LEARNING_RATE, BATCH_SIZE = 0.1, 1e-3, 256
#: the most items a step's softmax ranks (beyond it, the batch's own plus a uniform sample) and
#: the most positives an epoch visits (a seeded sample): a step and an epoch cost the same at any size
MAX_CANDIDATES, MAX_ANCHORS_PER_EPOCH = 16_384, 200_000


def profile_ndcg(embeddings: np.ndarray, train: sp.csr_matrix, held: sp.csr_matrix, candidates: np.ndarray,
                 k: int = 20, seed: int = 0) -> float:
    """NDCG@k of ranking ``candidates`` by cosine to each user's profile (from ``train``), against
    ``held``; over a seeded sample of users when there are many (:func:`validation_users`)."""
    users = validation_users(np.flatnonzero((np.diff(held.indptr) > 0) & (np.diff(train.indptr) > 0)), seed)
    if len(users) == 0:
        return 0.0
    profiles = unit_rows(np.asarray(train[users] @ embeddings))
    return ndcg_of_factors(profiles, embeddings[candidates], held[users][:, candidates], k)


def liked_times(positives, shape: tuple[int, int]) -> sp.csr_matrix | None:
    """Users x items CSR of when each user first liked each item (seconds after the
    earliest time, plus 1 so that none is zero); None without a ``timestamp`` column."""
    if "timestamp" not in positives or positives.empty:
        return None
    first = positives.groupby(["user_idx", "item_idx"], sort=False)["timestamp"].min()
    when = first.to_numpy(np.float64)
    return sp.csr_matrix((when - when.min() + 1.0, (first.index.get_level_values(0), first.index.get_level_values(1))),
                         shape=shape)


def train_taste_head(inputs: np.ndarray, kernel: np.ndarray, user_items: sp.csr_matrix, epochs: int,
                     held: np.ndarray | None = None, patience: int = 3, seed: int = 0, progress: bool = False,
                     times: sp.csr_matrix | None = None):
    """Train the linear head ``unit(inputs @ kernel)`` on behaviour (no bias: on
    these small-scale inputs a bias soon outweighs them and every item looks alike).

    Parameters
    ----------
    inputs : float32 (n_items, d)
        Cached CNN features (centred and reduced), zero rows for items without an image.
    kernel : float32 (d, k)
        Starting head.
    user_items : CSR (n_users, n_items)
        Training positives.
    times : CSR like ``user_items``, optional
        When each positive was first liked (:func:`liked_times`, all above 0): a
        profile is then made of the items liked strictly before the one it must
        pick; without it, of the user's other items.
    held : int array, optional
        Items whose positives are kept out and stop training early (the best
        epoch's head is kept); without it, exactly ``epochs`` epochs.
    progress : bool
        Show a progress bar with the rate and ETA.

    Returns ``(kernel, best_epoch, history)``; ``best_epoch`` 0 means the
    starting head ranked the held-out items best.
    """
    has = np.abs(inputs).sum(axis=1) > 0
    w = tf.Variable(kernel.astype(np.float32))
    table = tf.constant(inputs, tf.float32)

    def embed(items):
        return tf.math.l2_normalize(tf.matmul(tf.gather(table, items), w), axis=1)

    def embed_all():
        z = unit_rows(inputs @ w.numpy())
        z[~has] = 0.0
        return z

    best, history = train_on_profiles(embed, embed_all, [([w], LEARNING_RATE)], has, user_items, epochs, held,
                                      times, "taste head", patience, seed, progress)
    return w.numpy(), best, history


def train_on_profiles(embed, embed_all, groups, has: np.ndarray, user_items: sp.csr_matrix, epochs: int,
                      held: np.ndarray | None, times: sp.csr_matrix | None, label: str, patience: int = 3,
                      seed: int = 0, progress: bool = False, max_ranked: int = MAX_CANDIDATES):
    """The loop :func:`train_taste_head` and the CNN's fine-tuning share: each user's profile
    must pick the positive out of the items ranked (InfoNCE), early-stopped on the ``held``
    items' positives and scored from the start (epoch 0). ``embed(items)``: unit vectors of
    those items (a graph function of ``groups``' variables); ``embed_all()``: every item's, in
    NumPy; ``groups``: ``[(variables, learning rate), ...]``. The best epoch's variables are
    left in place. Returns ``(best_epoch, history)``."""
    rng = np.random.default_rng(seed)
    is_held = np.zeros(len(has), bool)
    if held is not None:
        is_held[held] = True
    ui = sp.csr_matrix(user_items, dtype=np.float32)
    train = (ui @ sp.diags((has & ~is_held).astype(np.float32))).tocsr()
    train.eliminate_zeros()
    train.sort_indices()
    check = (ui @ sp.diags((has & is_held).astype(np.float32))).tocsr() if held is not None else None
    pairs = _Pairs(train, times, max_ranked)
    if len(pairs.anchors) == 0 or len(pairs.candidates) < 2:
        return 0, []
    step = infonce_step(embed, groups)
    variables = [v for group, _ in groups for v in group]

    def score():
        return profile_ndcg(embed_all(), train, check, np.asarray(held), seed=seed)

    def run_epoch():
        order = pairs.anchors[rng.permutation(len(pairs.anchors))[:MAX_ANCHORS_PER_EPOCH]]
        return float(np.mean([float(step(*pairs.batch(order[i:i + BATCH_SIZE], rng)))
                              for i in range(0, len(order), BATCH_SIZE)]))

    def get():
        return [v.numpy() for v in variables]

    def put(values):
        for v, value in zip(variables, values):
            v.assign(value)

    return train_epochs(run_epoch, epochs, label, progress, None if check is None else score, (get, put), patience,
                        score_start=True)


def infonce_step(embed, groups):
    """One Adam step on a batch (:meth:`_Pairs.batch`), returning the loss; ``embed(items)``
    gives those items' unit vectors in the taste space; ``groups``: ``[(variables, learning
    rate), ...]``, one optimizer each."""
    optimizers = [(keras.optimizers.Adam(rate), variables) for variables, rate in groups]
    variables = [v for _, group in optimizers for v in group]

    @tf.function(reduce_retracing=True)
    def step(history, history_rows, history_columns, in_profile, ranked, labels, others):
        with tf.GradientTape() as tape:
            z = embed(history)  # the batch users' items
            own = tf.math.unsorted_segment_sum(tf.gather(z, history_columns) * in_profile[:, None], history_rows,
                                               tf.shape(labels)[0])
            logits = tf.matmul(tf.math.l2_normalize(own, axis=1), embed(ranked), transpose_b=True) / TEMPERATURE
            # the user's other items make the profile: they are no negatives
            logits = tf.where(others, tf.fill(tf.shape(logits), -1e9), logits)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        gradients = iter(tape.gradient(loss, variables))
        for optimizer, group in optimizers:
            optimizer.apply_gradients([(next(gradients), v) for v in group])
        return loss

    return step


class _Pairs:
    """The training positives a profile can predict (``anchors``, indices into ``train``'s
    entries), the items ranked against them (at most ``max_ranked`` a step), and each step's batch."""

    def __init__(self, train: sp.csr_matrix, times: sp.csr_matrix | None, max_ranked: int = MAX_CANDIDATES):
        self.train, self.coo, self.max_ranked = train, train.tocoo(), max_ranked
        coo, per_user = self.coo, np.diff(train.indptr)
        if times is None:  # a profile needs another item
            self.when, self.anchors = None, np.flatnonzero(per_user[coo.row] >= 2)
        else:  # or one liked earlier; ``when`` keeps ``train``'s layout
            when = train.astype(bool).multiply(sp.csr_matrix(times, dtype=np.float64)).tocsr()
            when.sort_indices()
            if not np.array_equal(when.indices, train.indices):
                raise ValueError("`times` must hold a time above 0 for every positive of `user_items`")
            earliest = np.full(train.shape[0], np.inf)
            np.minimum.at(earliest, coo.row, when.data)
            self.when, self.anchors = when, np.flatnonzero(when.data > earliest[coo.row])
        self.candidates = np.flatnonzero(np.asarray(train.sum(axis=0)).ravel() > 0).astype(np.int64)

    def batch(self, rows, rng):
        """A step's inputs: only the batch users' items and the items it ranks, never the whole catalog."""
        users, items = self.coo.row[rows], self.coo.col[rows].astype(np.int64)
        own = self.train[users]
        history, history_columns = np.unique(own.indices, return_inverse=True)
        history_rows = np.repeat(np.arange(len(rows)), np.diff(own.indptr))
        if self.when is None:  # the user's other items
            in_profile = own.indices != items[history_rows]
        else:  # the items the user liked strictly before this one
            in_profile = self.when[users].data < self.when.data[rows][history_rows]
        ranked = self.candidates
        if len(ranked) > self.max_ranked:  # the batch's items and a uniform sample of the rest
            ranked = np.union1d(items, rng.choice(ranked, self.max_ranked - len(rows), replace=False))
        others = own[:, ranked].toarray() > 0
        labels = np.searchsorted(ranked, items)
        others[np.arange(len(rows)), labels] = False
        return (history, history_rows, history_columns.astype(np.int64), in_profile.astype(np.float32), ranked,
                labels, others)
