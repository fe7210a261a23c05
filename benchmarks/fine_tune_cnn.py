"""Fine-tuning the CNN's top blocks on behaviour: does a trunk trained on who bought what
rank new items better than the frozen one? (issue 28; the library keeps the frozen trunk)

    python benchmarks/fine_tune_cnn.py [--datasets hm-fashion,demo-new] [--seed 0] [--trunk-lr 1e-4]

The activations at the lowest cut are computed once and cached in the embedding store
(:class:`CutEncoder`), so an epoch runs only the blocks being trained. The objective is the
taste head's (:func:`recsys.models.taste_head.train_on_profiles`: each user's profile, made of
what they liked before, must pick out the item they liked next; InfoNCE as in CLCRec; DVBPR
trains a CNN on behaviour end to end the same way). It runs on the benchmark's split's
training part: first the head alone on the frozen features (0 blocks, what the hybrid's taste
head does today), then from that head each block count with the head, every one early-stopped
on the hybrid's pseudo-arrivals (the 20% of items first seen last, their positives held out).
Prints each block count's best held-out NDCG@20 and epoch; where more than 0 blocks win, the
hybrid on the fine-tuned features against the hybrid on the frozen ones, on the test.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from _common import HM_FASHION, MOBILENET_WEIGHTS, need

from recsys.data import load_dataset
from recsys.data.demo import write_demo
from recsys.evaluation import fit_and_evaluate, make_split, metric_table
from recsys.evaluation.metrics import paired_bootstrap
from recsys.models import HybridRecommender
from recsys.models.cold_start import PROFILE_DIM
from recsys.models.hybrid_selection import ValidationSplit
from recsys.models.taste_head import liked_times, train_on_profiles
from recsys.quiet import keras, tf  # TensorFlow without its start-up lines
from recsys.scoring import unit_rows
from recsys.vision import EncoderConfig, ImageEncoder, embed_dataset

#: per encoder, the layers whose output the trained top starts from, for 1, 2, ... blocks
CUTS = {"compact_cnn": ("gap", "pool1", "pool0", "rescale"),
        "mobilenet_v2": ("block_16_project_BN", "block_15_add", "block_14_add", "block_13_project_BN")}
#: the head's learning rate (Adam; the trunk's is --trunk-lr) and the most items a step ranks
#: (each runs through the trained blocks)
HEAD_LEARNING_RATE, MAX_RANKED = 1e-3, 2048


class Trunk:
    """An encoder seen as the layers below a cut and those above it; both share its layers,
    so training the top trains the encoder."""

    def __init__(self, encoder: ImageEncoder):
        outer = encoder.model
        trunk = outer.layers[1]
        compact = encoder.config.name == "compact_cnn"
        self.net = trunk if compact else trunk.layers[-1]  # the flat model holding the named layers
        self.preprocess = (lambda x: x) if compact else trunk.get_layer("rescale")
        self.head = outer.layers[2:]  # projection (if any) and L2 normalisation
        self.cuts = CUTS[encoder.config.name]

    def below(self, blocks: int) -> keras.Model:
        """Pixels (preprocessed) -> the activations where ``blocks`` trained blocks start."""
        return keras.Model(self.net.input, self.net.get_layer(self.cuts[blocks - 1]).output)

    def between(self, lowest: int, blocks: int) -> keras.Model:
        """The activations at the cut of ``lowest`` blocks -> those at the cut of ``blocks``."""
        return keras.Model(self.net.get_layer(self.cuts[lowest - 1]).output,
                           self.net.get_layer(self.cuts[blocks - 1]).output)

    def above(self, blocks: int) -> keras.Model:
        """The activations at the cut of ``blocks`` -> the trunk's output."""
        return keras.Model(self.net.get_layer(self.cuts[blocks - 1]).output, self.net.output)

    def embed(self, top: keras.Model, activations):
        """The encoder's embeddings from activations at ``top``'s cut (BatchNorm in inference mode)."""
        x = top(activations, training=False)
        for layer in self.head:
            x = layer(x)
        return x


class CutEncoder:
    """Pixels -> the activations at a cut, flattened: what :func:`recsys.vision.embed_catalog`
    caches in the embedding store (keyed by the encoder's fingerprint and the cut), so
    fine-tuning never runs the frozen layers again."""

    def __init__(self, encoder: ImageEncoder, blocks: int):
        trunk = Trunk(encoder)
        below = trunk.below(blocks)
        self.dim = int(np.prod(below.output.shape[1:]))
        self.image_size = encoder.image_size
        key = f"{encoder.fingerprint()} {trunk.cuts[blocks - 1]}"
        self._fingerprint = hashlib.sha256(key.encode()).hexdigest()[:20]
        self.infer = tf.function(
            lambda x: tf.reshape(below(trunk.preprocess(tf.cast(x, tf.float32)), training=False), (-1, self.dim)),
            reduce_retracing=True)

    def fingerprint(self) -> str:
        return self._fingerprint


@dataclass
class FineTuning:
    """What fine-tuning chose: ``blocks`` trained (0: none), and per block count tried its best
    epoch and held-out score (``history``)."""

    blocks: int = 0
    history: list = field(default_factory=list)


def fine_tune(encoder: ImageEncoder, activations: np.ndarray, user_items: sp.csr_matrix, held: np.ndarray,
              choices: tuple[int, ...], trunk_lr: float, epochs: int = 20, times: sp.csr_matrix | None = None,
              seed: int = 0, progress: bool = False, augment: bool = False) -> FineTuning:
    """Train the encoder's top blocks on behaviour, in place, and choose how many on ``held``.

    ``activations``: every item's, at the cut of ``max(choices)`` blocks (:class:`CutEncoder`),
    zero rows for items without an image, rows aligned with ``user_items``' columns. The encoder
    ends with the best choice's weights (exactly its old ones when that is 0). ``augment``: where
    the trained blocks start at the pixels, each photo is flipped, transposed, shaded and shifted
    at random in training (:func:`_augment`).
    """
    result, trunk, lowest = FineTuning(), Trunk(encoder), max(choices)
    acts, has_image = _maps(trunk, activations, lowest)
    start = encoder.model.get_weights()
    features = _embed_all(trunk, trunk.above(lowest), acts, has_image)
    mean = features[has_image].mean(axis=0)
    common = dict(trunk=trunk, lowest=lowest, acts=acts, features=features, has_image=has_image, mean=mean,
                  user_items=user_items, held=held, epochs=epochs, times=times, seed=seed, progress=progress,
                  history=result.history, augment=augment)
    # the head alone first (0 blocks: the frozen trunk); each block count then starts from it
    score, head = _train(blocks=0, head=_initial_head(features[has_image] - mean, seed), trunk_lr=0.0, **common)
    best = (score, start)
    for blocks in (b for b in choices if b):
        encoder.model.set_weights(start)
        score, _ = _train(blocks=blocks, head=head, trunk_lr=trunk_lr, **common)
        if score > best[0]:
            best, result.blocks = (score, encoder.model.get_weights()), blocks
    encoder.model.set_weights(best[1])
    encoder.invalidate()
    return result


def fine_tuned_features(encoder: ImageEncoder, activations: np.ndarray, blocks: int) -> np.ndarray:
    """The encoder's embeddings from ``activations`` cached at the cut of ``blocks`` (what it
    gives from the pixels, without running the layers below); zero rows where there is no image."""
    trunk = Trunk(encoder)
    return _embed_all(trunk, trunk.above(blocks), *_maps(trunk, activations, blocks))


def _maps(trunk, activations: np.ndarray, blocks: int):
    """``(activation maps at the cut of blocks, which rows have an image)`` from the cached flat rows."""
    shape = trunk.below(blocks).output.shape[1:]
    return (tf.constant(np.asarray(activations, np.float32).reshape((-1, *shape))),
            np.abs(activations).sum(axis=1) > 0)


def _train(trunk, blocks, lowest, acts, features, has_image, mean, head, user_items, held, epochs, times, seed,
           progress, history, trunk_lr, augment):
    """Train ``blocks`` blocks with the head (the head alone, on the features, for 0); leaves the
    best epoch's weights in the encoder, adds a record to ``history`` and returns
    ``(held-out score, the head then)``."""
    w, centre = tf.Variable(head), tf.constant(mean)
    top = trunk.above(blocks) if blocks else None
    if not blocks:
        inputs = tf.constant(features)
    else:  # the frozen blocks between the cached cut and this one run once
        inputs = acts if blocks == lowest else trunk.between(lowest, blocks)(acts, training=False)

    pixels = augment and blocks and trunk.cuts[blocks - 1] == "rescale"

    def embed(items):
        x = tf.gather(inputs, items)
        if pixels:
            x = _augment(x)
        return tf.math.l2_normalize(tf.matmul((x if top is None else trunk.embed(top, x)) - centre, w), axis=1)

    def embed_all():
        z = features if top is None else _embed_all(trunk, top, inputs, has_image)
        z = unit_rows((z - mean) @ w.numpy())
        z[~has_image] = 0.0
        return z

    groups = [([w], HEAD_LEARNING_RATE)] + ([(_trainable(top), trunk_lr)] if blocks else [])
    best_epoch, records = train_on_profiles(embed, embed_all, groups, has_image, user_items, epochs, held, times,
                                            f"CNN, {blocks} block(s)", seed=seed, progress=progress,
                                            max_ranked=MAX_RANKED)
    score = max((r["val_ndcg"] for r in records if "val_ndcg" in r), default=-np.inf)
    history.append({"blocks": blocks, "best_epoch": best_epoch, "val_ndcg_at_20": round(score, 4),
                    "epoch_1_val_ndcg_at_20": round(next((r["val_ndcg"] for r in records if r["epoch"] == 1),
                                                         np.nan), 4),
                    "epoch_1_loss": round(next((r["loss"] for r in records if r["epoch"] == 1), np.nan), 3)})
    return score, w.numpy()


def _trainable(top: keras.Model) -> list:
    """The top's convolution and dense weights (BatchNorm keeps its ImageNet statistics and scale)."""
    variables = []
    for layer in top.layers:
        if isinstance(layer, keras.layers.BatchNormalization) or not layer.weights:
            continue
        layer.trainable = True
        variables += list(layer.trainable_weights)
    return variables


def _initial_head(centred: np.ndarray, seed: int) -> np.ndarray:
    """The top ``PROFILE_DIM`` principal directions of the centred features, as the hybrid's taste head starts."""
    from sklearn.utils.extmath import randomized_svd

    rank = max(1, min(PROFILE_DIM, len(centred) - 1, centred.shape[1]))
    _, _, basis = randomized_svd(centred, rank, random_state=seed)
    return basis.T.astype(np.float32)


def _embed_all(trunk, top, acts, has_image, batch: int = 1024) -> np.ndarray:
    out = np.concatenate([trunk.embed(top, acts[i:i + batch]).numpy() for i in range(0, int(acts.shape[0]), batch)])
    out[~np.asarray(has_image, bool)] = 0.0
    return out.astype(np.float32)


def _augment(pixels):
    """Each photo (pixels scaled to 0..1) flipped, transposed, shaded (x0.8 to 1.2) and shifted
    (up to 8 px) at random, so that no training item looks the same twice."""
    n = tf.shape(pixels)[0]
    x = tf.where(tf.random.uniform((n, 1, 1, 1)) < 0.5, tf.reverse(pixels, [2]), pixels)
    x = tf.where(tf.random.uniform((n, 1, 1, 1)) < 0.5, tf.transpose(x, [0, 2, 1, 3]), x)
    x = x * tf.random.uniform((n, 1, 1, 1), 0.8, 1.2)
    x = tf.roll(x, tf.random.uniform((2,), -8, 9, dtype=tf.int32), axis=[1, 2])
    return tf.clip_by_value(x, 0.0, 1.0)


def dataset_and_encoder(name: str, seed: int):
    """``(dataset, encoder, split)`` as ``benchmarks/cold_start.py`` draws them."""
    if name == "hm-fashion":
        need(HM_FASHION, MOBILENET_WEIGHTS)
        dataset = load_dataset(HM_FASHION)
        encoder = ImageEncoder(EncoderConfig("mobilenet_v2", image_size=128, weights=str(MOBILENET_WEIGHTS)))
        return dataset, encoder, make_split(dataset, kind="cutoff", last="8w")
    if name in ("demo", "demo-new"):
        dataset = load_dataset(write_demo(tempfile.mkdtemp(prefix="recsys-demo-") + "/demo"))
        encoder = ImageEncoder(EncoderConfig("compact_cnn", image_size=64))
        return dataset, encoder, make_split(dataset, seed=seed, cold_draw="newest" if name == "demo-new" else "random")
    raise SystemExit(f"unknown dataset {name!r}: expected hm-fashion, demo or demo-new")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="hm-fashion,demo-new")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blocks", default="0,1,2", help="block counts to try (0: the frozen trunk)")
    parser.add_argument("--trunk-lr", type=float, default=1e-4, help="the trained blocks' learning rate (Adam)")
    parser.add_argument("--augment", action="store_true",
                        help="photos flipped, turned, shaded and shifted at random where the whole CNN trains "
                             "(the compact CNN's 4 blocks)")
    parser.add_argument("--store", default=".recsys/embeddings", help="embedding store (reused across runs)")
    args = parser.parse_args()
    choices = tuple(int(b) for b in args.blocks.split(","))
    tf.random.set_seed(args.seed)  # the augmentation's draws
    for name in args.datasets.split(","):
        dataset, encoder, split = dataset_and_encoder(name, args.seed)
        frozen = embed_dataset(dataset, encoder, store_dir=args.store, progress=True)
        activations = embed_dataset(dataset, CutEncoder(encoder, max(choices)), store_dir=args.store).vectors
        train, positives = split.train, split.train.positives()
        held = ValidationSplit.of(train, positives, 0.2, args.seed).pseudo_cold  # the hybrid's pseudo-arrivals
        result = fine_tune(encoder, activations, train.user_items(), held, choices, args.trunk_lr,
                           times=liked_times(positives, (train.n_users, train.n_items)), seed=args.seed,
                           progress=True, augment=args.augment)
        print(f"\n{name}: held-out NDCG@20 of the taste profiles on the pseudo-arrivals, per block count "
              f"(trunk learning rate {args.trunk_lr:g})\n{pd.DataFrame(result.history).to_string(index=False)}\n"
              f"chosen: {result.blocks} block(s)")
        if not result.blocks:
            print("the frozen trunk is kept: the hybrid would be the same model\n")
            continue
        tuned = fine_tuned_features(encoder, activations, max(choices))
        per_user = {}
        results = pd.concat([fit_and_evaluate({"frozen CNN": HybridRecommender(seed=args.seed)}, split,
                                              frozen.vectors, per_user=per_user),
                             fit_and_evaluate({"fine-tuned CNN": HybridRecommender(seed=args.seed)}, split, tuned,
                                              per_user=per_user)])
        print(metric_table(results, ("ndcg_at_20",)).round(4).to_string())
        for segment in ("warm", "cold", "all"):
            ours = per_user["fine-tuned CNN"][segment]["ndcg_at_20"]
            theirs = per_user["frozen CNN"][segment]["ndcg_at_20"].reindex(ours.index)
            ratio, low, high = paired_bootstrap(ours.to_numpy(), theirs.to_numpy())
            print(f"{segment}: fine-tuned / frozen {ratio:.2f}x [{low:.2f}, {high:.2f}]")


if __name__ == "__main__":
    main()
