"""Peer libraries wrapped in recsys's Recommender API, so one protocol measures all:
each sets its user and item factors (the model contract, recsys.models.base).

Each wrapper learns from the same training interactions (positives) and, where
the peer takes content, the same image embeddings. Cold items get whatever the
peer itself can give them: nothing for implicit (their factors stay zero),
the visual terms for VBPR, the image features for LightFM.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender


class ImplicitALS(Recommender):
    name = "implicit_als"

    def __init__(self, factors=64, regularization=0.05, alpha=2.0, iterations=20, seed=0):
        self.factors, self.regularization, self.alpha, self.iterations, self.seed = \
            factors, regularization, alpha, iterations, seed

    def _model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                       iterations=self.iterations, random_state=self.seed)

    def _fit(self, dataset, item_features=None):
        model = self._model()
        model.fit(dataset.user_items().astype(np.float32), show_progress=False)
        self.user_vectors_, self.item_vectors_ = model.user_factors, np.array(model.item_factors)
        cold = np.asarray(dataset.user_items().sum(axis=0)).ravel() == 0
        self.item_vectors_[cold] = 0.0  # never trained: random init would be noise, not knowledge


class CornacVBPR(Recommender):
    """VBPR (He & McAuley 2016) from Cornac, fed the same image features."""

    name = "cornac_vbpr"

    def __init__(self, k=10, k2=20, n_epochs=30, batch_size=256, learning_rate=0.005, lambda_w=1.0,
                 lambda_b=0.01, lambda_e=0.0, seed=0):
        self.k, self.k2, self.n_epochs, self.batch_size, self.learning_rate = k, k2, n_epochs, batch_size, learning_rate
        self.lambda_w, self.lambda_b, self.lambda_e, self.seed = lambda_w, lambda_b, lambda_e, seed

    def _fit(self, dataset, item_features=None):
        import cornac
        from cornac.data import ImageModality

        pos = dataset.positives()
        triplets = list(zip(pos["user_id"], pos["item_id"], np.ones(len(pos))))
        train = cornac.data.Dataset.from_uir(triplets, seed=self.seed)
        feats = np.asarray(item_features, np.float32)
        feats = feats / max(float(np.abs(feats).max()), 1e-12)  # scaled to [-1, 1] as VBPR expects
        image = ImageModality(features=feats, ids=list(dataset.item_ids), normalized=False)
        image.build(id_map=train.iid_map)
        train.add_modalities(item_image=image)
        model = cornac.models.VBPR(k=self.k, k2=self.k2, n_epochs=self.n_epochs, batch_size=self.batch_size,
                                   learning_rate=self.learning_rate, lambda_w=self.lambda_w, lambda_b=self.lambda_b,
                                   lambda_e=self.lambda_e, seed=self.seed, verbose=False)
        model.fit(train)
        # Rebuild VBPR's score in our index space: warm items keep their ID terms;
        # every item (cold too) gets the visual terms theta_u . (E f_i) + beta' . f_i.
        users = np.array([train.uid_map.get(u, -1) for u in dataset.user_ids])
        items = np.array([train.iid_map.get(i, -1) for i in dataset.item_ids])
        f = feats
        gamma_u = np.where(users[:, None] >= 0, model.gamma_user[np.maximum(users, 0)], 0.0)
        theta_u = np.where(users[:, None] >= 0, model.theta_user[np.maximum(users, 0)], 0.0)
        gamma_i = np.where(items[:, None] >= 0, model.gamma_item[np.maximum(items, 0)], 0.0)
        beta_i = np.where(items >= 0, model.beta_item[np.maximum(items, 0)], 0.0)
        visual = f @ model.emb_matrix
        visual_bias = (f @ model.beta_prime).ravel()
        self.user_vectors_ = np.hstack([gamma_u, theta_u, np.ones((len(users), 1))]).astype(np.float32)
        self.item_vectors_ = np.hstack([gamma_i, visual, (beta_i + visual_bias)[:, None]]).astype(np.float32)


class LightFMWarp(Recommender):
    """LightFM with WARP loss; item features = identity (warm items) + image features."""

    name = "lightfm_warp"

    def __init__(self, factors=64, epochs=30, learning_rate=0.05, item_alpha=1e-6, feature_dims=64, seed=0):
        self.factors, self.epochs, self.learning_rate, self.item_alpha = factors, epochs, learning_rate, item_alpha
        self.feature_dims, self.seed = feature_dims, seed

    def _fit(self, dataset, item_features=None):
        from lightfm import LightFM
        from sklearn.decomposition import PCA

        pos = dataset.positives()
        interactions = sp.coo_matrix((np.ones(len(pos), np.float32), (np.array(pos["user_idx"]), np.array(pos["item_idx"]))),
                                     shape=(dataset.n_users, dataset.n_items))
        warm = np.zeros(dataset.n_items, bool)
        warm[pos["item_idx"].to_numpy()] = True
        identity = sp.diags(warm.astype(np.float32)).tocsr()[:, np.flatnonzero(warm)]
        # LightFM's cost grows with non-zeros per item: reduce the image features with PCA
        dense = PCA(self.feature_dims, random_state=self.seed).fit_transform(np.asarray(item_features, np.float32))
        dense /= np.abs(dense).max()
        features = sp.hstack([identity, sp.csr_matrix(dense)]).tocsr().astype(np.float32)
        model = LightFM(no_components=self.factors, loss="warp", learning_rate=self.learning_rate,
                        item_alpha=self.item_alpha, random_state=self.seed)
        # one thread: LightFM's parallel SGD is not repeatable, and a seed must give one answer
        model.fit(interactions, item_features=features, epochs=self.epochs, num_threads=1)
        item_bias, item_emb = model.get_item_representations(features)
        _, user_emb = model.get_user_representations()
        self.user_vectors_ = np.hstack([user_emb, np.ones((dataset.n_users, 1))]).astype(np.float32)
        self.item_vectors_ = np.hstack([item_emb, item_bias[:, None]]).astype(np.float32)
