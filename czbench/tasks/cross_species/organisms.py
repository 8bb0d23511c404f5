"""Species names as cz-benchmarks 0.15.1 reports them: the names of its ``Organism`` enum
(``homo_sapiens``, ``mus_musculus``, ...).

A species column may hold a common name (``human``), a scientific name (``Homo sapiens``) or the
reference's own name (``homo_sapiens``); :func:`organism_name` turns each of these into the
reference's name and leaves any other value as it is.
"""

from __future__ import annotations

import re
from typing import Any

#: the reference's organism names, each with the common names that stand for it (the enum's
#: member names, lower case)
ORGANISMS: dict[str, tuple[str, ...]] = {
    "homo_sapiens": ("human",),
    "mus_musculus": ("mouse",),
    "xenopus_tropicalis": ("tropical_clawed_frog",),
    "xenopus_laevis": ("african_clawed_frog",),
    "danio_rerio": ("zebrafish",),
    "microcebus_murinus": ("mouse_lemur",),
    "sus_scrofa": ("wild_boar",),
    "macaca_fascicularis": ("crab_eating_macaque",),
    "macaca_mulatta": ("rhesus_macaque",),
    "ornithorhynchus_anatinus": ("platypus",),
    "monodelphis_domestica": ("opossum",),
    "gorilla_gorilla": ("gorilla",),
    "pan_troglodytes": ("chimpanzee",),
    "callithrix_jacchus": ("marmoset",),
    "gallus_gallus": ("chicken",),
    "oryctolagus_cuniculus": ("rabbit",),
    "drosophila_melanogaster": ("fruit_fly",),
    "rattus_norvegicus": ("rat",),
    "heterocephalus_glaber": ("naked_mole_rat",),
    "caenorhabditis_elegans": (),
    "saccharomyces_cerevisiae": ("yeast",),
    "plasmodium_falciparum": ("malaria_parasite",),
    "petromyzon_marinus": ("sea_lamprey",),
    "spongilla_lacustris": ("freshwater_sponge",),
    "stylophora_pistillata": ("coral",),
    "lytechinus_variegatus": ("sea_urchin",),
}

_ALIASES = {alias: name for name, aliases in ORGANISMS.items()
            for alias in (name, *aliases)}

#: ``species_names`` values: report the reference's organism names, or the column's values
SPECIES_NAMES = ("organism", "column")


def organism_name(value: Any) -> str:
    """The reference's name of a species value (case, spaces and hyphens ignored: ``Human``,
    ``Homo sapiens`` and ``homo_sapiens`` all give ``homo_sapiens``); ``str(value)`` when the
    value names none of its organisms."""
    key = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    return _ALIASES.get(key, str(value))
