"""The code MLflow logs as the recommender model ("models from code", no pickle).

MLflow copies this file into the logged model and runs it on load; the class
itself comes from the installed ``recsys`` package.
"""

import mlflow

from recsys.serving import RecommenderModel

mlflow.models.set_model(RecommenderModel())
