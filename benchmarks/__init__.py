"""Benchmarks of autosearch against yardsticks measured side by side (``python -m benchmarks``; ``make bench``).

Each module is one measurement of issue 15; ``worker`` holds the child-process entry points that import
TensorFlow, so that the orchestrating process never does.
"""
