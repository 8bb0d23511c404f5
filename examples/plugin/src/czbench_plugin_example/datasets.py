"""The plugin's dataset: a subset of czbench's lung cell-line mixture, shipped as package data."""

from czbench.datasets import DatasetInfo

LUNG_MIXOLOGY_3CL = DatasetInfo(
    name="lung_mixology_3cl",
    description="450 cells of 3 lung adenocarcinoma cell lines profiled with CEL-seq2 and "
                "Drop-seq (batches); UMI counts of the 1,000 genes with the most UMIs",
    # "<package>:<path inside it>": the file ships inside this plugin, not inside czbench
    file="czbench_plugin_example:data/lung_mixology_3cl.h5ad",
    sha256="995de7102b251189d48410d0b4cc125fdc48b81079ebd847fa76cd3499868afd",
    n_cells=450, n_genes=1000,
    columns={"cell_type": "cell_type", "batch": "batch"},
    licence="MIT",
    source="subset of czbench's lung_celllines_mixology (GitHub LuyiTian/sc_mixology, commit "
           "7d00ffb0; GEO GSE118767); rebuilt by examples/plugin/make_dataset.py",
    citation="Tian L et al. (2019) Nat Methods (CellBench)",
    tasks=("neighbourhood_purity",),
)
