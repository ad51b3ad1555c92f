"""Data: embedded and user data sets, their split and fingerprint."""

from autosearch.data.dataset import Dataset, load_dataset
from autosearch.data.split import (
           SplitData,
           fingerprint,
           majority_baseline,
           prepare_data,
           split_dataset,
)

__all__ = ["Dataset", "SplitData", "fingerprint", "load_dataset", "majority_baseline", "prepare_data",
           "split_dataset"]
