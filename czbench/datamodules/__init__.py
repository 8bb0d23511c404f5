"""Lightning DataModules over AnnData."""

from czbench.datamodules.anndata_module import AnnDataModule
from czbench.sampling import stratified_split, stratified_subset

__all__ = ["AnnDataModule", "stratified_split", "stratified_subset"]
