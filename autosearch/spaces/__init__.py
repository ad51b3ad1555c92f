"""Search spaces: the registry pipelines name (light, no TensorFlow) and the AutoKeras blocks they build.

``autosearch.spaces.registry`` is what config validates against; ``autosearch.spaces.blocks``
imports AutoKeras and is imported only when a model is built or loaded.
"""
