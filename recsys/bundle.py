"""A model directory: the recommender, the image encoder that feeds it, and the
catalog's image embeddings, saved together so a batch job needs nothing else.

Layout::

    MODEL_DIR/
      bundle.json          what is inside, the training config, the dataset fingerprint
      model/               HybridRecommender.save (model.json + arrays.npz)
      encoder/             ImageEncoder.save (encoder.keras + encoder.json)
      item_embeddings.npz  item_ids, vectors, has_image (for similar items)
      items.parquet        the catalog's metadata (for filters)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import formats
from recsys.io import atomic_path
from recsys.models.hybrid import HybridRecommender
from recsys.vision.embed import EmbedResult, embed_catalog
from recsys.vision.encoders import ImageEncoder
from recsys.vision.similar import SimilarItems

BUNDLE_FORMAT = 1


@dataclass
class ModelBundle:
    model: HybridRecommender
    encoder: ImageEncoder
    item_ids: np.ndarray
    item_vectors: np.ndarray
    has_image: np.ndarray
    info: dict = field(default_factory=dict)
    #: the catalog's metadata (item_id and any other columns), for filters
    items: pd.DataFrame | None = None

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the whole directory atomically (a rerun replaces it whole; anything
        else at ``path`` is refused unless ``overwrite``: :func:`recsys.io.atomic_path`)."""
        with atomic_path(path, directory=True, overwrite=overwrite, kind="model") as tmp:
            self.model.save(tmp / "model")
            self.encoder.save(tmp / "encoder")
            np.savez(tmp / "item_embeddings.npz", item_ids=np.asarray(self.item_ids, dtype=str),
                     vectors=self.item_vectors, has_image=self.has_image)
            if self.items is not None:
                self.items.astype({"item_id": str}).to_parquet(tmp / "items.parquet", index=False)
            (tmp / "bundle.json").write_text(json.dumps({"format": BUNDLE_FORMAT, **self.info}, indent=2,
                                                        default=str))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelBundle":
        path = Path(path)
        if not (path / "bundle.json").exists():
            raise FileNotFoundError(f"{path}: not a recsys model directory (no bundle.json); "
                                    "create one with `recsys train DATASET --out DIR`")
        info = formats.read_json(path / "bundle.json", BUNDLE_FORMAT, None)
        where = path / "item_embeddings.npz"
        a = formats.load_arrays(where, {"vectors": "item_ids", "has_image": "item_ids"},
                                names={"item_ids", "vectors", "has_image"})
        encoder = ImageEncoder.load(path / "encoder")
        if a["vectors"].ndim != 2 or a["vectors"].shape[1] != encoder.dim:
            raise formats.CorruptFile(f"{where}: vectors are {a['vectors'].shape[1:]} wide, but the encoder in "
                                      f"{path / 'encoder'} makes {encoder.dim}-d embeddings; save the model again")
        items = None
        if (path / "items.parquet").exists():
            with formats.open_regular(path / "items.parquet", formats.max_model_bytes()) as f:
                items = pd.read_parquet(f)
        return cls(model=HybridRecommender.load(path / "model"), encoder=encoder,
                   item_ids=a["item_ids"].astype(object), item_vectors=a["vectors"], has_image=a["has_image"],
                   info=info, items=items)

    def embed_items(self, items: pd.DataFrame, root) -> EmbedResult:
        """Embed an items table's images (``item_id, image_path`` relative to ``root``)
        with the bundle's encoder; nothing is cached."""
        return embed_catalog(items["item_id"].astype(str).to_numpy(), items["image_path"].tolist(), root,
                             self.encoder, store_dir=None)

    def add_new_items(self, items: pd.DataFrame, root) -> EmbedResult:
        """Make unknown items of ``items`` rankable from their images (cold start): the
        model scores them, and the catalog (similar items, metadata) holds them.

        Returns the embedding result; items whose image could not be used are
        not added (their reasons are in ``skipped_items``).
        """
        unknown = self.model.item_map_.rows(items["item_id"], missing="-1") < 0
        new = items[unknown].drop_duplicates("item_id")
        result = self.embed_items(new, root)
        ok = result.has_image
        added = set(self.model.add_items(result.item_ids[ok], result.vectors[ok]))
        rows = [n for n, i in enumerate(result.item_ids) if ok[n] and i in added]
        self.item_ids = np.concatenate([self.item_ids, result.item_ids[rows]])
        self.item_vectors = np.vstack([self.item_vectors, result.vectors[rows]])
        self.has_image = np.concatenate([self.has_image, np.ones(len(rows), bool)])
        if self.items is not None:
            self.items = pd.concat([self.items, new.iloc[rows].astype({"item_id": str})], ignore_index=True)
        return result

    def similar(self) -> SimilarItems:
        return SimilarItems(self.item_ids, self.item_vectors, self.has_image)
