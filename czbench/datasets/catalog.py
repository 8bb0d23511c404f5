"""The datasets shipped with czbench (or with scanpy): provenance, licence, columns, tasks.

Each entry's file lies in ``czbench/datasets/data/`` next to a ``.md`` page with its source,
licence and columns; ``docs/datasets.md`` lists them.
"""

from __future__ import annotations

from czbench.datasets.info import DatasetInfo

BUILTIN_DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="pbmc_3chemistries_symphony",
        description="1,200 human PBMCs from three 10x chemistries (3' v1, 3' v2, 5') as batches, "
                    "9 cell types; UMI counts of 1,767 variable genes",
        file="pbmc_3chemistries_symphony.h5ad",
        sha256="94e743a096d058a56627f50e8953159c9fe4d2033109ec1108877f4e237f25af",
        n_cells=1200, n_genes=1767,
        columns={"cell_type": "cell_type", "batch": "batch"},
        licence="GPL-3.0-or-later (data file only; from the Symphony R package)",
        source="GitHub immunogenomics/symphony data/pbmcs_exprs_small.rda + pbmcs_meta_small.rda, "
               "commit bf7aaf9a; counts reconstructed exactly from log(CP10k+1) and nUMI",
        citation="Kang JB et al. (2021) Nat Commun (Symphony); Korsunsky I et al. (2019) "
                 "Nat Methods (Harmony)",
        tasks=("clustering", "embedding", "label_prediction", "batch_integration"),
    ),
    DatasetInfo(
        name="lung_celllines_mixology",
        description="1,021 cells of 5 lung adenocarcinoma cell lines in 5 runs (CEL-seq2 and "
                    "Drop-seq) as batches; UMI counts of 3,000 variable genes",
        file="lung_celllines_mixology.h5ad",
        sha256="8e600052bac6adcb4b85ed5d25c5dddd39f6a91292153d3d6a66d7b13688a5a3",
        n_cells=1021, n_genes=3000,
        columns={"cell_type": "cell_type", "batch": "batch"},
        licence="MIT",
        source="GitHub LuyiTian/sc_mixology data/csv/*.count.csv.gz, commit 7d00ffb0 "
               "(GEO GSE118767, GSE126906)",
        citation="Tian L et al. (2019) Nat Methods (CellBench)",
        tasks=("clustering", "embedding", "label_prediction", "batch_integration"),
    ),
    DatasetInfo(
        name="pbmc68k_reduced",
        description="700 PBMCs, 765 genes, 10 cell types ('bulk_labels'); X is scaled (not "
                    "counts), so its shipped X_pca stands in for the PCA baseline; no batch "
                    "column",
        file="scanpy:datasets/10x_pbmc68k_reduced.h5ad",
        sha256="e71d41e737c941559b7c57c9243bdb3d2c889c2adfdf00e3422ac6b46783676f",
        n_cells=700, n_genes=765,
        columns={"cell_type": "bulk_labels"},
        licence="BSD-3-Clause (shipped inside scanpy); underlying data: 10x Genomics",
        source="scanpy.datasets.pbmc68k_reduced() (scanpy's package data)",
        citation="Zheng GXY et al. (2017) Nat Commun; Wolf FA et al. (2018) Genome Biol (scanpy)",
        embeddings=("X_pca",),
        counts_layer="",
        tasks=("clustering", "embedding", "label_prediction"),
    ),
    DatasetInfo(
        name="bmdc_lps_timecourse_shalek_pseudotimede",
        description="390 mouse bone-marrow dendritic cells 1, 2, 4 and 6 hours after LPS "
                    "(time course; slingshot pseudotime in obs); read counts of 4,016 genes",
        file="bmdc_lps_timecourse_shalek_pseudotimede.h5ad",
        sha256="d9878ca0e9e80d88d6cf175d13b1db57e8d811fd6756865c8a40613421f0de2c",
        n_cells=390, n_genes=4016,
        columns={"time": "time_hours"},
        licence="MIT",
        source="GitHub SONGDONGYUAN1994/PseudotimeDE data/LPS_sce.rda, commit 3fc3f68b "
               "(GEO GSE48968)",
        citation="Shalek AK et al. (2014) Nature; Song D, Li JJ (2021) Genome Biol (PseudotimeDE)",
        tasks=("sequential_organization",),
    ),
    DatasetInfo(
        name="pancreas_baron_human_mouse",
        description="4,028 pancreas cells, human (4 donors) and mouse (2), 1:1 orthologs (5,994 "
                    "genes), 15 shared Cell Ontology cell types; inDrop UMI counts",
        file="pancreas_baron_human_mouse.h5ad",
        sha256="cbf159d53c8da741a139fe16557ceee8284b37efda2752956a645ce5480e79da",
        n_cells=4028, n_genes=5994,
        columns={"cell_type": "cell_type", "species": "species", "batch": "donor"},
        licence="MIT",
        source="PyPI wheel came==0.1.13, came/sample_data.zip (GEO GSE84133)",
        citation="Baron M et al. (2016) Cell Syst; Liu X et al. (2023) Nat Comput Sci (CAME)",
        tasks=("cross_species_integration", "cross_species_label_prediction", "clustering",
               "embedding", "label_prediction", "batch_integration"),
    ),
    DatasetInfo(
        name="thp1_crispr_papalexi_lowmoi_sceptre",
        description="20,729 THP-1 cells with CRISPR knockouts of 25 genes plus non-targeting "
                    "controls (ECCITE-seq, low MOI); UMI counts of 299 genes; 'ambiguous' cells "
                    "have no confident guide",
        file="thp1_crispr_papalexi_lowmoi_sceptre.h5ad",
        sha256="186425a3d14a5ab667cb851357bcbb07a5d14e9ad84a7ec1c57a7a8083afa3b7",
        n_cells=20729, n_genes=299,
        columns={"condition": "perturbation", "batch": "bio_rep"},
        licence="GPL-3.0 (data file only; from the sceptre R package)",
        source="GitHub Katsevich-Lab/sceptre data/lowmoi_example_data.rda, commit 823bcdae "
               "(GEO GSE153056)",
        citation="Papalexi E et al. (2021) Nat Genet; Barry T et al. (2024) Genome Biol (sceptre)",
        tasks=("perturbation_expression_prediction", "replicate_retrieval"),
        extra={"control": "non-targeting", "exclude_conditions": ("ambiguous",)},
        task_options={"replicate_retrieval": {
            "perturbation_key": "perturbation", "control": "non-targeting",
            "exclude": ("ambiguous",), "profile_keys": ("grna_top", "bio_rep"),
            "min_profile_size": 10}},
    ),
    DatasetInfo(
        name="lincs_cellpainting_a549_1plate_cytominereval",
        description="Cell Painting of A549 cells, one 384-well plate of the LINCS Drug "
                    "Repurposing Hub screen: 58 compounds x 6 doses and 24 DMSO wells; 454 "
                    "CellProfiler features per well (median over the well's cells, robust "
                    "z-scored per plate, feature-selected); MOA labels on 342 wells",
        file="lincs_cellpainting_a549_1plate_cytominereval.h5ad",
        sha256="393f04d11be73a598818b84161967a82ee4e5c7acdbe5464bdeca2c022144a1d",
        n_cells=384, n_genes=454,
        columns={"cell_type": "cell_type", "condition": "compound"},
        licence="CC0-1.0 (profiles); MOA/target annotations: Drug Repurposing Hub, research "
                "use only, no commercial redistribution",
        source="GitHub cytomining/cytominer-eval example_data/compound/"
               "SQ00015054_normalized_feature_select.csv.gz, commit 643d3e7f (identical to "
               "broadinstitute/lincs-cell-painting's LFS object); pert_iname and cell_count "
               "from broadinstitute/lincs-cell-painting, commit 06187012",
        citation="Natoli T et al. (2021) LINCS Cell Painting release, Zenodo "
                 "doi:10.5281/zenodo.5008187; Way GP et al. (2022) Cell Syst; Corsello SM "
                 "et al. (2017) Nat Med (Drug Repurposing Hub)",
        counts_layer="",
        modality="morphology",
        tasks=("replicate_retrieval", "clustering", "embedding", "label_prediction"),
        task_options={
            "replicate_retrieval": {"perturbation_key": "compound", "control": "DMSO"},
            "clustering": {"missing_labels": "drop"},
            "embedding": {"missing_labels": "drop"},
            "label_prediction": {"missing_labels": "drop", "group_key": "compound"},
        },
    ),
    DatasetInfo(
        name="splice_junctions_primate_uci",
        description="3,190 primate genomic DNA windows of 60 nt (UCI splice junctions): donor "
                    "(EI), acceptor (IE) or neither (N); sequences in obs['sequence'], no "
                    "features in X; leakage_group joins same-locus and identical sequences",
        file="splice_junctions_primate_uci.h5ad",
        sha256="b4cd3b651e1d575e1a935aa9d32037dbfbac0116fc9d44d741579c9810fcf599",
        n_cells=3190, n_genes=0,
        columns={"cell_type": "label"},
        licence="CC BY 4.0 (UCI Machine Learning Repository)",
        source="UCI Molecular Biology (Splice-junction Gene Sequences), dataset 69, via GitHub "
               "scikit-learn-contrib/category_encoders examples/source_data/splice/splice.csv, "
               "commit 82ff7421",
        citation="Noordewier MO, Towell GG, Shavlik JW (1991) NIPS 3; UCI Machine Learning "
                 "Repository dataset 69",
        counts_layer="",
        modality="sequence",
        tasks=("sequence_classification",),
        task_options={"sequence_classification": {"group_key": "leakage_group"}},
    ),
    DatasetInfo(
        name="merfish_preoptic_mouse_seraster",
        description="MERFISH of the mouse hypothalamic preoptic region, one slice: 6,509 cells "
                    "with 2-D centroids (um) x 155 genes; volume-normalised expression (not "
                    "counts); 9 cell types (992 ambiguous cells unlabelled); no region labels",
        file="merfish_preoptic_mouse_seraster.h5ad",
        sha256="f7cb7a5ef35a6a9aeeebd26d457f21b7b5f569c6bc2313ef043d3ce3b180438c",
        n_cells=6509, n_genes=155,
        columns={"cell_type": "cell_type"},
        licence="CC0-1.0 (Dryad doi:10.5061/dryad.8t8s248)",
        source="GitHub JEFworks-Lab/SEraster data/merfish_mousePOA.rda, commit effadf51 "
               "(a subset of the Dryad table of Moffitt et al.); centroids checked against "
               "drieslab/spatial-datasets, commit 12a495fe",
        citation="Moffitt JR et al. (2018) Science (doi:10.1126/science.aau5324); Aihara G "
                 "et al. (2024) Bioinformatics (SEraster)",
        counts_layer="",
        modality="spatial",
        spatial_key="spatial",
        task_options={**{task: {"missing_labels": "drop"} for task in (
            "niche_composition", "clustering", "embedding")},
            "label_prediction": {"missing_labels": "drop", "max_cells": 2000}},
    ),
)
