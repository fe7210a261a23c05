"""Product images to embeddings: encoders, the tf.data image pipeline, the embedding store."""

from recsys.vision.embed import EmbedResult, embed_catalog, embed_dataset, embed_files
from recsys.vision.encoders import ENCODERS, EncoderConfig, ImageEncoder, build_encoder, compact_cnn
from recsys.vision.similar import SimilarItems

__all__ = ["EncoderConfig", "ImageEncoder", "ENCODERS", "build_encoder", "compact_cnn", "embed_catalog",
           "embed_dataset", "embed_files", "EmbedResult", "SimilarItems"]
