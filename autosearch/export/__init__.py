"""Export: self-describing model bundles and the predictor that reloads them.

``autosearch.export.bundle`` and ``autosearch.export.predictor`` import
TensorFlow when their functions are called, not on import.
"""
