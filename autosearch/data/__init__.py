"""Data: embedded and user data sets, their split and fingerprint."""

from autosearch.data.dataset import Dataset, SplitData, fingerprint, load_dataset, majority_baseline, split_dataset

__all__ = ["Dataset", "SplitData", "fingerprint", "load_dataset", "majority_baseline", "split_dataset"]
