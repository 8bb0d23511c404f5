"""Lightning DataModules over AnnData."""

from czbench.datamodules.anndata_module import AnnDataModule
from czbench.utils.sampling import stratified_split, stratified_subset

__all__ = ["AnnDataModule", "stratified_split", "stratified_subset"]
