"""recsys: a CNN-powered hybrid recommender with image-based cold start."""

__version__ = "0.1.0"
