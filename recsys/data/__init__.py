"""Datasets in the data contract: loading, validation, adapters and the demo shop."""

from recsys.data.dataset import Dataset
from recsys.data.images import ImageError, check_images, load_rgb
from recsys.data.loading import load_dataset
from recsys.data.tables import DataError

__all__ = ["Dataset", "load_dataset", "DataError", "ImageError", "check_images", "load_rgb"]
