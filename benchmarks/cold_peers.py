"""The strongest published cold-start models as peers, written for the benchmark from
the papers (PyTorch, from the bench extra's torch), with the ColdRec toolkit's
reference code as the check:

- CLCRec (Wei et al., MM 2021): user and item ID embeddings and a content
  encoder, trained with two InfoNCE losses, user-item (half the items fed by
  their content embedding instead of their ID one) and item-content. New items
  are scored with their content embedding.
- ALDI (Huang et al., SIGIR 2023): a BPR matrix factorisation teacher, and a
  student that maps content (and the teacher's user vectors) into a space
  whose scores are aligned with the teacher's: rating distance, pairwise
  ranking and item identity distributions. New items are scored by the
  student, known items by the teacher, and the alignment is what lets the two
  share one ranking.

Both stop early on a validation drawn as the hybrid draws its own (each user's
latest 20% of positives, and the 20% of items first seen last, removed from
training), ranking the whole catalog as the `all` segment does, then train on
everything for the best epoch count. Both use shared sampled negatives (one
set of uniform warm items per batch), which keeps CPU training in minutes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.evaluation.metrics import ndcg_of_factors
from recsys.evaluation.holdouts import first_seen, latest_items, random_holdout, temporal_holdout
from recsys.models.base import Recommender


def _torch():
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    return torch


def _validation(dataset, seed: int, share: float = 0.2):
    """``(train positives, held-out positives)``: each user's latest ``share`` of positives and
    those of the ``share`` of items first seen last held out, as the hybrid draws them."""
    positives = dataset.positives()
    interacted = np.unique(dataset.interactions["item_idx"].to_numpy())
    pseudo_new = latest_items(first_seen(dataset), interacted, share, seed)
    is_new = positives["item_idx"].isin(pseudo_new).to_numpy()
    held = (temporal_holdout(positives, share, min_interactions=5) if "timestamp" in positives
            else random_holdout(positives, share, seed))
    return positives[~held & ~is_new], positives[held | is_new]


def _matrix(frame, shape) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(frame), np.float32), (frame["user_idx"], frame["item_idx"])), shape=shape)
    m.data[:] = 1.0
    return m


class _TorchColdStart(Recommender):
    """Early stopping on the whole-catalog validation, then a refit on everything."""

    def __init__(self, factors=64, epochs=60, batch_size=1024, negatives=256, learning_rate=1e-3, patience=3,
                 check_every=2, seed=0):
        self.factors, self.epochs, self.batch_size, self.negatives = factors, epochs, batch_size, negatives
        self.learning_rate, self.patience, self.check_every, self.seed = learning_rate, patience, check_every, seed

    def _fit(self, dataset, item_features=None):
        torch = _torch()
        content = torch.tensor(np.asarray(item_features, np.float32))
        content = (content - content.mean(0)) / (content.std(0) + 1e-6)
        shape = (dataset.n_users, dataset.n_items)
        train, held = _validation(dataset, self.seed)
        seen = _matrix(train, shape)
        relevant = _matrix(held[held["user_idx"].isin(np.unique(train["user_idx"]))], shape)
        users = np.flatnonzero(np.diff(relevant.indptr))
        scores = {}
        for epoch, (u, v) in self._train(train, content, shape, self.epochs):
            scores[epoch] = ndcg_of_factors(u[users], v, relevant[users], 20, seen[users])
            if sum(e > max(scores, key=scores.get) for e in scores) >= self.patience:
                break
        best = max(scores, key=scores.get)
        for _, vectors in self._train(dataset.positives(), content, shape, best):
            pass
        self.best_epochs_ = best
        self.user_vectors_, self.item_vectors_ = vectors

    def _train(self, positives, content, shape, epochs):
        """Yields ``(epoch, (user_vectors, item_vectors))`` every ``check_every`` epochs."""
        torch = _torch()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        users = positives["user_idx"].to_numpy()
        items = positives["item_idx"].to_numpy()
        warm = np.zeros(shape[1], bool)
        warm[items] = True
        warm_items = np.flatnonzero(warm)
        state = self._build(shape, content, positives)
        optimiser = torch.optim.Adam([p for p in state.parameters() if p.requires_grad], lr=self.learning_rate)
        for epoch in range(1, epochs + 1):
            state.train()
            order = rng.permutation(len(users))
            for start in range(0, len(users), self.batch_size):
                b = order[start:start + self.batch_size]
                negatives = torch.as_tensor(warm_items[rng.integers(0, len(warm_items), self.negatives)])
                loss = state.loss(torch.as_tensor(users[b]), torch.as_tensor(items[b]), negatives, content)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if epoch % self.check_every == 0 or epoch == epochs:
                state.eval()
                with torch.no_grad():
                    yield epoch, state.vectors(content, torch.as_tensor(warm))


class CLCRec(_TorchColdStart):
    """CLCRec: InfoNCE user-item (with half the items given by content) and item-content."""

    name = "clcrec"

    def __init__(self, temperature=2.0, content_share=0.5, item_content_weight=0.5, reg=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.temperature, self.content_share = temperature, content_share
        self.item_content_weight, self.reg = item_content_weight, reg

    def _build(self, shape, content, positives):
        torch = _torch()
        nn = torch.nn
        model = self

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.users = nn.Parameter(nn.init.xavier_uniform_(torch.empty(shape[0], model.factors)))
                self.items = nn.Parameter(nn.init.xavier_uniform_(torch.empty(shape[1], model.factors)))
                self.encoder = nn.Sequential(nn.Linear(content.shape[1], 256), nn.LeakyReLU(),
                                             nn.Linear(256, model.factors))

            def loss(self, users, items, negatives, content):
                f = torch.nn.functional
                candidates = torch.cat([items, negatives])  # each row's positive is its own item
                feature = self.encoder(content[candidates])
                item_ids = self.items[candidates]
                # item-content: an item's ID embedding must pick out its own content embedding
                ic = f.normalize(self.items[items], dim=1) @ f.normalize(feature, dim=1).T
                # user-item: half the candidates fed by their content embedding
                mixed = torch.where(torch.rand(len(candidates), 1) < model.content_share, feature, item_ids)
                u = self.users[users]
                ui = u @ mixed.T
                target = torch.arange(len(items))
                keep = torch.cat([torch.eye(len(items), dtype=torch.bool),
                                  torch.ones(len(items), len(negatives), dtype=torch.bool)], dim=1)
                nce = lambda logits: f.cross_entropy(logits.masked_fill(~keep, -1e9) / model.temperature, target)
                reg = (u.norm(dim=1).mean() + self.items[items].norm(dim=1).mean()) / 2
                w = model.item_content_weight
                return w * nce(ic) + (1 - w) * nce(ui) + model.reg * reg

            def vectors(self, content, warm):
                feature = self.encoder(content)
                items = torch.where(warm[:, None], self.items, feature)
                return self.users.numpy().copy(), items.numpy().copy()

        return Net()


class ALDI(_TorchColdStart):
    """ALDI: a BPR-MF teacher, a student aligned to it on warm items (ColdRec's losses)."""

    name = "aldi"

    def __init__(self, rating_weight=0.1, ranking_weight=0.9, identity_weight=0.05, teacher_epochs=30, reg=1e-4,
                 **kwargs):
        super().__init__(**kwargs)
        self.rating_weight, self.ranking_weight, self.identity_weight = rating_weight, ranking_weight, identity_weight
        self.teacher_epochs, self.reg = teacher_epochs, reg

    def _teacher(self, shape, positives):
        """BPR matrix factorisation on ``positives``: ``(user_emb, item_emb)`` tensors."""
        torch = _torch()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed + 1)
        users = torch.as_tensor(positives["user_idx"].to_numpy())
        items = torch.as_tensor(positives["item_idx"].to_numpy())
        warm_items = np.unique(positives["item_idx"].to_numpy())
        u = torch.nn.Parameter(0.1 * torch.randn(shape[0], self.factors))
        v = torch.nn.Parameter(0.1 * torch.randn(shape[1], self.factors))
        optimiser = torch.optim.Adam([u, v], lr=5e-3)
        for _ in range(self.teacher_epochs):
            order = torch.as_tensor(rng.permutation(len(users)))
            for start in range(0, len(users), self.batch_size):
                b = order[start:start + self.batch_size]
                neg = torch.as_tensor(warm_items[rng.integers(0, len(warm_items), len(b))])
                ub, pb, nb = u[users[b]], v[items[b]], v[neg]
                loss = -torch.nn.functional.logsigmoid((ub * (pb - nb)).sum(1)).mean() \
                    + self.reg * (ub.pow(2).sum(1) + pb.pow(2).sum(1) + nb.pow(2).sum(1)).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        return u.detach(), v.detach()

    def _build(self, shape, content, positives):
        torch = _torch()
        nn = torch.nn
        f = torch.nn.functional
        model = self
        teacher_users, teacher_items = self._teacher(shape, positives)

        def mapper(width):
            return nn.Sequential(nn.Linear(width, 2 * model.factors), nn.Tanh(), nn.Linear(2 * model.factors,
                                 2 * model.factors), nn.Tanh(), nn.Linear(2 * model.factors, model.factors))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.user_mapper, self.item_mapper = mapper(model.factors), mapper(content.shape[1])

            def loss(self, users, items, negatives, content):
                neg = negatives[torch.randint(len(negatives), (len(items),))]
                tu, tp, tn = teacher_users[users], teacher_items[items], teacher_items[neg]
                su, sp_, sn = self.user_mapper(tu), self.item_mapper(content[items]), self.item_mapper(content[neg])
                t_pos, t_neg = (tu * tp).sum(1), (tu * tn).sum(1)
                s_pos, s_neg = (su * sp_).sum(1), (su * sn).sum(1)
                basic = -f.logsigmoid(s_pos - s_neg).mean()
                rating = ((t_pos - s_pos).abs() + (t_neg - s_neg).abs()).mean()
                ranking = f.binary_cross_entropy_with_logits(s_pos - s_neg, torch.sigmoid(t_pos - t_neg))
                s_iden = (sp_ * sp_).sum(1) - (sp_ @ sn.T).mean(1)
                t_iden = (tp * tp).sum(1) - (tp @ tn.T).mean(1)
                identity = f.binary_cross_entropy_with_logits(s_iden, torch.sigmoid(t_iden))
                reg = (su.pow(2).sum(1) + sp_.pow(2).sum(1) + sn.pow(2).sum(1)).mean()
                return (basic + model.rating_weight * rating + model.ranking_weight * ranking
                        + model.identity_weight * identity + model.reg * reg)

            def vectors(self, content, warm):
                # known items by the teacher, new ones by the student: [u_t, u_s] . [v_t, 0] or [0, g(f)]
                users = torch.cat([teacher_users, self.user_mapper(teacher_users)], dim=1)
                zeros = torch.zeros_like(teacher_items)
                items = torch.where(warm[:, None], torch.cat([teacher_items, zeros], dim=1),
                                    torch.cat([zeros, self.item_mapper(content)], dim=1))
                return users.numpy().copy(), items.numpy().copy()

        return Net()
