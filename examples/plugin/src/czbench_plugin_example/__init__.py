"""A template czbench plugin: copy this folder, rename the package, replace the assets.

Entry points (pyproject.toml) make each asset known to czbench by name once installed:
dataset ``lung_mixology_3cl``, metric ``label_knn_purity``, task ``neighbourhood_purity``,
model ``random_projection``.
"""

__version__ = "0.1.0"
