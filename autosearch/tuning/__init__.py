"""Tuning: the tracked AutoKeras tuner (hooks), the AutoModel it builds, baselines and progress.

Modules here import TensorFlow inside the functions that train, never at import.
"""
