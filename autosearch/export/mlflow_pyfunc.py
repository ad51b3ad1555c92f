"""The MLflow pyfunc model of a bundle, as a *model from code*: MLflow copies this file into the model and runs it
at load time, so it imports nothing of autosearch, Keras or AutoKeras; TensorFlow serves the bundle's raw-input
SavedModel (signature ``serving_default``) and pandas carries the rows.

``predict`` takes a DataFrame of raw inputs, the columns the model was trained on: the text column (any single
column is taken as the text), each feature column of a table (missing values allowed), or an ``image_bytes``
column of encoded PNG/JPEG bytes. It answers a DataFrame: ``class`` and one ``probability:<class>`` column per
class for a classifier, ``value`` for a regressor. Used by ``mlflow_model.log_bundle``; not imported.
"""

import json

import mlflow.pyfunc
from mlflow.models import set_model
import numpy as np
import pandas as pd


class BundleModel(mlflow.pyfunc.PythonModel):
    """A bundle's ``serving_default`` signature on pandas DataFrames."""

    def load_context(self, context):  # noqa: ANN001
        import tensorflow as tf

        with open(context.artifacts["manifest"], encoding="utf-8") as f:
            manifest = json.load(f)
        self.raw = manifest["serving"]["raw"]
        self.text_column = manifest.get("input", {}).get("text_column", "text")
        self.class_names = list(manifest.get("class_names") or [])
        self.model = tf.saved_model.load(context.artifacts["saved_model"])
        self.serve = self.model.signatures[self.raw["signature"]]

    def _column(self, frame: pd.DataFrame, key: str, spec: dict) -> list:
        column = spec.get("column") or (self.text_column if key == "text" else key)
        if column not in frame.columns:
            if key == "text" and len(frame.columns) == 1:
                column = frame.columns[0]
            else:
                raise ValueError(f"the model needs a column '{column}'; the rows have {list(frame.columns)}")
        values = frame[column].tolist()
        if key == "image_bytes":
            return [bytes(v) for v in values]
        return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]

    def predict(self, context, model_input: pd.DataFrame, params=None):  # noqa: ANN001 - a DataFrame: no schema
        # inferred from the hint (MLflow reads predict's hints; the logged signature names the columns)
        import tensorflow as tf

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        inputs = {key: tf.constant(self._column(frame, key, spec), tf.string)
                  for key, spec in self.raw["inputs"].items()}
        out = self.serve(**inputs)
        if "value" in out:
            return pd.DataFrame({"value": out["value"].numpy().astype(float)}, index=frame.index)
        probabilities = out["probabilities"].numpy().astype(float)
        result = {"class": [c.decode("utf-8") for c in out["class"].numpy()]}
        result.update({f"probability:{name}": probabilities[:, i] for i, name in enumerate(self.class_names)})
        return pd.DataFrame(result, index=frame.index)


set_model(BundleModel())
