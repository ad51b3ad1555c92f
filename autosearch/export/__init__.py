"""Export: self-describing model bundles and the predictor that reloads them.

``format`` and ``outputs`` are light; ``bundle`` and ``predictor`` import
TensorFlow when their functions are called, not on import. Nothing here knows
how a model was searched: callers hand over the model and its preprocessing.
"""
