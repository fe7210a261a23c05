"""The Keras network behind the hybrid recommender.

score(u, i) = [p_u, 1] . [m_i * q_i + (1 - m_i) * g(f_i)],   g(f) = W2 relu(W1 dropout(f))

- ``p_u``: user factors; ``q_i``: item ID factors with an ID bias (last column);
- ``f_i``: the item's image embedding (fixed); ``g``: the image tower, giving
  an image-based item vector and an image-based bias (VBPR's visual terms);
- ``m_i``: 1 for items with training interactions, 0 for cold ones. In
  training ``m_i`` is zeroed at random (DropoutNet), so the same user vectors
  must rank items from their image alone.

The two parts are gated rather than summed: every photo is unique, so a
summed image tower memorises items like an extra ID and, on MovieLens, cut
warm NDCG@20 from 0.130 (IDs alone) to 0.080-0.10 (see the model notes in
the README).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.models.lazy_adam import LazyAdam
from recsys.quiet import keras, tf  # TensorFlow without its start-up lines

ops = keras.ops


def _rows(table: keras.layers.Embedding, ids):
    """Rows of an embedding table, gathered from its variable: the layer's own lookup reads the
    whole table, and once :class:`LazyAdam` has scattered into it TensorFlow copies the table
    at every such read (421 ms a step at 1M rows against 2.7 ms)."""
    return tf.gather(table.embeddings.value, ids)


@keras.saving.register_keras_serializable(package="recsys")
class HybridNet(keras.Model):
    """User and item towers; ``call`` returns ``(user_vectors, item_vectors)``, each with
    ``factors + 1`` columns (the last carries the item bias against a user constant 1)."""

    def __init__(self, n_users: int, n_items: int, image_dim: int, factors: int = 64,
                 image_hidden: int = 256, image_dropout: float = 0.0, use_ids: bool = True,
                 use_images: bool = True, l2: float = 1e-6, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not (use_ids or use_images):
            raise ValueError("at least one of `use_ids` and `use_images` must be True")
        self.n_users, self.n_items, self.image_dim = n_users, n_items, image_dim
        self.factors, self.image_hidden, self.image_dropout = factors, image_hidden, image_dropout
        self.use_ids, self.use_images, self.l2, self.seed = use_ids, use_images, l2, seed
        init = keras.initializers.RandomNormal(stddev=0.05, seed=seed)
        reg = keras.regularizers.L2(l2) if l2 else None
        # the factor tables carry no regulariser: the training step penalises the rows a batch
        # uses (a table-wide penalty would make every step cost the whole table)
        self.user_factors = keras.layers.Embedding(n_users, factors, embeddings_initializer=init, name="user_factors")
        self.user_factors.build()  # built now: their rows are gathered from the variables (_rows)
        if use_ids:
            self.item_factors = keras.layers.Embedding(n_items, factors + 1, embeddings_initializer=init,
                                                       name="item_factors")
            self.item_factors.build()
        if use_images:
            # every photo is unique, so a big tower can memorise items like an ID
            # would; input dropout and a narrow layer keep it learning taste
            self.image_dropout_layer = keras.layers.Dropout(image_dropout, seed=seed + 3)
            self.image_hidden_layer = keras.layers.Dense(
                image_hidden, activation="relu", name="image_hidden", kernel_regularizer=reg,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1))
            self.image_out = keras.layers.Dense(
                factors + 1, name="image_out", kernel_regularizer=reg,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2))

    def user_rows(self, users):
        return _rows(self.user_factors, users)

    def item_rows(self, items):
        return _rows(self.item_factors, items)

    def user_vectors(self, users):
        p = self.user_rows(users)
        return ops.concatenate([p, ops.ones_like(p[:, :1])], axis=1)

    def image_vectors(self, features, training=False):
        return self.image_out(self.image_hidden_layer(self.image_dropout_layer(features, training=training)))

    def item_vectors(self, items, features, id_mask, training=False):
        """``id_mask`` (batch,) float: 1 uses the ID part, 0 the image part (cold, or DropoutNet)."""
        if not self.use_images:
            return self.item_rows(items)
        image = self.image_vectors(features, training=training)
        if not self.use_ids:
            return image
        keep = ops.expand_dims(id_mask, 1)
        return keep * self.item_rows(items) + (1.0 - keep) * image

    def id_variables(self):
        return self.user_factors.trainable_variables + (self.item_factors.trainable_variables if self.use_ids else [])

    def image_variables(self):
        if not self.use_images:
            return []
        return self.image_hidden_layer.trainable_variables + self.image_out.trainable_variables

    def call(self, inputs):
        users, items, features, id_mask = inputs
        return self.user_vectors(users), self.item_vectors(items, features, id_mask)

    def get_config(self):
        return {**super().get_config(), "n_users": self.n_users, "n_items": self.n_items,
                "image_dim": self.image_dim, "factors": self.factors, "image_hidden": self.image_hidden,
                "image_dropout": self.image_dropout,
                "use_ids": self.use_ids, "use_images": self.use_images, "l2": self.l2, "seed": self.seed}


def make_train_step(net, learning_rate, variables, feature_table, log_q, prior, loss_name: str, logq: bool):
    """One compiled training step of :class:`HybridNet` over ``variables``: sampled
    softmax over in-batch negatives (log-Q corrected) or BPR, with L2 on the factor
    rows the batch uses; :class:`LazyAdam`, so a step costs the same at any number
    of users and items. Returns the loss."""
    optimizer = LazyAdam(variables, learning_rate)

    def factor_penalty(users, items):
        rows = [net.user_rows(users)] + ([net.item_rows(items)] if net.use_ids else [])
        return net.l2 * tf.add_n([tf.reduce_sum(tf.square(r)) for r in rows])

    def item_vectors(items, keep):
        v = net.item_vectors(items, tf.gather(feature_table, items), keep, training=True)
        bias = ((1.0 - keep) * tf.gather(prior, items))[:, None]  # image-only vectors get the prior
        return v + tf.concat([tf.zeros_like(v[:, :-1]), bias], axis=1)

    @tf.function(reduce_retracing=True)
    def step(users, items, keep, negatives):
        with tf.GradientTape() as tape:
            u = net.user_vectors(users)
            v = item_vectors(items, keep)
            if loss_name == "softmax":
                logits = tf.matmul(u, v, transpose_b=True)
                if logq:  # in-batch negatives are drawn by popularity: undo that bias
                    logits -= tf.gather(log_q, items)[None, :]
                # the same item elsewhere in the batch is not a negative
                same = tf.equal(items[:, None], items[None, :]) & ~tf.eye(tf.shape(items)[0], dtype=tf.bool)
                logits = tf.where(same, tf.fill(tf.shape(logits), -1e9), logits)
                labels = tf.range(tf.shape(items)[0])
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            else:
                n = item_vectors(negatives, keep)
                loss = tf.reduce_mean(tf.nn.softplus(-tf.reduce_sum(u * (v - n), axis=1)))
            loss += tf.add_n(net.losses) if net.losses else 0.0
            if net.l2:
                loss += factor_penalty(users, tf.concat([items, negatives], 0) if loss_name == "bpr" else items)
        optimizer.apply(tape.gradient(loss, variables))
        return loss

    return step


@dataclass
class TrainingState:
    """What a hybrid's training carries from step to step: the network, the standardised
    image features it reads and every item's image popularity prior."""

    net: HybridNet
    features: np.ndarray
    prior: np.ndarray
