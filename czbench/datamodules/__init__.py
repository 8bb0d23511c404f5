"""Lightning DataModules over AnnData."""

from czbench.datamodules.anndata_module import AnnDataModule
from czbench.datamodules.sequence_module import SequenceDataModule
from czbench.utils.sampling import stratified_split, stratified_subset

__all__ = ["AnnDataModule", "SequenceDataModule", "stratified_split", "stratified_subset"]
