"""The protein catalogue: which proteins exist, where each localises, and what makes it unique.

Besides ordinary single-localisation proteins, the catalogue holds the cases the papers' analyses
are about (cytoself's complexes, Fig. 3; paired cell inpainting's mixed and variable proteins,
Figs. 5 and 6):

- **complexes**: groups of proteins generated with *identical* parameters, so no model can tell
  them apart; they should co-cluster and confuse each other in identification;
- **mixed** proteins: a blend of two classes with a known fraction ``alpha`` of the first
  (e.g. nucleus + cytoplasm), drawn per cell around the protein's value;
- **variable** proteins: two sub-populations of cells, each showing one of two classes;
- a **rare** class present in only one protein and a few fields;
- an **orphan**: an ordinary protein flagged to be held out of training and identified later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .patterns import BASE_CLASSES, PATTERNS, RARE_CLASS

CLASS_CODES = {
    "nucleoplasm": "NPL", "nucleolus": "NCL", "nuclear_envelope": "NEN", "nuclear_speckles": "SPK",
    "cytoplasm": "CYT", "er": "ERT", "mitochondria": "MIT", "vesicles": "VES", "golgi": "GLG",
    "centrosome": "CEN", "plasma_membrane": "PMB", "cytoskeleton": "FIB", "nucleolar_rim": "NRM",
}
MIXED, VARIABLE = "mixed", "variable"
# The localisations that are not one class: left out of class-level scores (the paper's grey
# "others" in cytoself's Fig. 2) and drawn in grey on maps.
MULTI_CLASS_KINDS = (MIXED, VARIABLE)

# Classes blended by the mixed proteins and split by the variable ones.
MIXTURES = (("nucleoplasm", "cytoplasm"), ("nucleolus", "cytoplasm"), ("nucleoplasm", "cytoplasm"))
MIXED_ALPHAS = (0.25, 0.5, 0.75)
VARIABLE_PAIRS = (("nucleoplasm", "cytoplasm"), ("mitochondria", "vesicles"))


@dataclass(frozen=True)
class Protein:
    name: str
    localization: str                            # a pattern name, "mixed" or "variable"
    components: tuple[tuple[str, dict], ...]     # (pattern, protein-specific parameters)
    expression: float                            # protein-level mean expression
    alpha: float = math.nan                      # mixed: mean fraction of the first component
    complex: str = ""                            # proteins sharing a complex share parameters
    rare: bool = False
    orphan: bool = False

    @property
    def kind(self) -> str:
        return self.localization if self.localization in (MIXED, VARIABLE) else "single"

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.components)


@dataclass(frozen=True)
class Catalogue:
    proteins: tuple[Protein, ...]
    seed: int = 0
    notes: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.proteins)

    def __getitem__(self, name: str) -> Protein:
        for protein in self.proteins:
            if protein.name == name:
                return protein
        raise KeyError(f"no protein {name!r} in the catalogue")

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.localization for p in self.proteins))

    def table(self) -> pd.DataFrame:
        """One row per protein: id, class, complex, flags and the parameters that define it."""
        rows = []
        for index, p in enumerate(self.proteins):
            rows.append(dict(
                protein_id=index, protein=p.name, localization=p.localization, kind=p.kind,
                components="+".join(p.classes), alpha=p.alpha, complex=p.complex,
                rare=p.rare, orphan=p.orphan, expression=round(p.expression, 3),
                parameters="; ".join(", ".join(f"{k}={v:.3g}" for k, v in params.items())
                                     for _, params in p.components)))
        return pd.DataFrame(rows)


def build_catalogue(n_proteins: int = 40, seed: int = 0, *, n_complexes: int = 4,
                    n_mixed: int = 3, n_variable: int = 2, rare: bool = True,
                    orphan: bool = True) -> Catalogue:
    """A deterministic catalogue of ``n_proteins`` proteins (see the module docstring)."""
    n_special = n_mixed + n_variable + int(rare)
    n_single = n_proteins - n_special
    if n_single < 2 * len(BASE_CLASSES):
        raise ValueError(f"n_proteins={n_proteins} leaves {n_single} single-class proteins; at least "
                         f"{2 * len(BASE_CLASSES) + n_special} are needed for two per class "
                         f"({len(BASE_CLASSES)} classes) plus {n_special} special proteins")
    if n_mixed > len(MIXTURES) or n_variable > len(VARIABLE_PAIRS):
        raise ValueError(f"at most {len(MIXTURES)} mixed and {len(VARIABLE_PAIRS)} variable proteins")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xCA7,)))

    def expression():
        return float(rng.lognormal(0.0, 0.4))

    def params(name):
        return PATTERNS[name].sample_params(rng)

    per_class = {name: [] for name in BASE_CLASSES}
    for i in range(n_single):
        per_class[BASE_CLASSES[i % len(BASE_CLASSES)]].append(None)

    # Complexes: in classes with the most proteins, the first 2-3 share one parameter set.
    complex_classes = sorted(BASE_CLASSES, key=lambda c: -len(per_class[c]))[:n_complexes]
    proteins: list[Protein] = []
    for class_name in BASE_CLASSES:
        members = len(per_class[class_name])
        complex_size = 0
        if class_name in complex_classes:
            complex_size = 3 if members >= 4 else 2
            complex_name = f"complex-{complex_classes.index(class_name) + 1}"
            shared = params(class_name)
            shared_expression = expression()
        for k in range(members):
            name = f"{CLASS_CODES[class_name]}{k + 1}"
            if k < complex_size:
                proteins.append(Protein(name, class_name, ((class_name, dict(shared)),),
                                        shared_expression, complex=complex_name))
            else:
                proteins.append(Protein(name, class_name, ((class_name, params(class_name)),),
                                        expression()))
    for k in range(n_mixed):
        first, second = MIXTURES[k]
        proteins.append(Protein(f"MIX{k + 1}", MIXED, ((first, params(first)), (second, params(second))),
                                expression(), alpha=MIXED_ALPHAS[k]))
    for k in range(n_variable):
        first, second = VARIABLE_PAIRS[k]
        proteins.append(Protein(f"VAR{k + 1}", VARIABLE,
                                ((first, params(first)), (second, params(second))), expression()))
    if rare:
        proteins.append(Protein(f"{CLASS_CODES[RARE_CLASS]}1", RARE_CLASS,
                                ((RARE_CLASS, params(RARE_CLASS)),), expression(), rare=True))
    if orphan:
        # The orphan is an ordinary protein (not in a complex) of a class that keeps >= 2 others.
        candidates = [i for i, p in enumerate(proteins)
                      if p.kind == "single" and not p.complex and not p.rare
                      and sum(q.localization == p.localization for q in proteins) >= 3]
        i = candidates[int(rng.integers(len(candidates)))]
        p = proteins[i]
        proteins[i] = Protein(p.name, p.localization, p.components, p.expression, orphan=True)
    return Catalogue(tuple(proteins), seed=seed)
