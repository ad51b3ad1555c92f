"""Search: registered search spaces and the tracked AutoKeras runner.

``autosearch.search.runner`` imports TensorFlow only inside ``run_search``.
"""
