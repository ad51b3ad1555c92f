"""Views: read-only renderings of tracked runs and trials (no TensorFlow)."""
