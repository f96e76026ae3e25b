"""Paired cell inpainting (Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019): the chapter's model
and library code (notebooks/paired_inpainting.ipynb and paired_inpainting_baselines.ipynb).

* :mod:`.model` - the architecture: a source-cell encoder, a target-marker encoder, a decoder that
  paints the target cell's protein; presets; feature read-out at every source conv layer.
* :mod:`.pairs` - pairs of cells from one image: the sampler, flips, normalisation, image splits.
* :mod:`.data` - cells found by segmentation in the atlas's fields, images with too few cells
  dropped, splits by image; the evaluation cells with their ground truth.
* :mod:`.datasets` - one loader for the chapter's ``dataset`` values (synthetic, yeast, human).
* :mod:`.train` - training through ``cellnb.train`` (exact resume), with the self-pair and
  autoencoder baselines.
* :mod:`.evaluate` - the paper's analyses: Table 1, Fig 2B, Table 2, Fig 5, Fig 6, Fig 4.
* :mod:`.counterfactual` - the quantitative S1 Fig: the source's pattern in the target's shape.
* :mod:`.figures`, :mod:`.explore` - static figures; live and static exploration.
* :mod:`.findings` - paper vs. this book. :mod:`.profiles` - the knobs of each run profile.

The generic estimators live in ``cellnb.evaluation`` (leave-one-out k-NN, normalised pairwise
distances, the multi-localisation score), the real data's readers in ``cellnb.data.pci_readers``,
the counterfactual field in ``cellnb.sim.repaint_field``.
"""
from . import counterfactual, evaluate, explore, figures
from .data import EvaluationCells, InpaintingData, pairs_from_fields
from .datasets import ChapterData, load_chapter_data
from .findings import OURS, baseline_findings, findings
from .model import LAYERS, InpaintingConfig, PairedInpainting, parameter_counts, preset
from .profiles import baselines_settings, chapter_settings
from .train import TrainSettings, train_inpainting

__all__ = ["counterfactual", "evaluate", "explore", "figures", "EvaluationCells",
           "InpaintingData", "pairs_from_fields", "ChapterData", "load_chapter_data", "OURS",
           "baseline_findings", "findings", "LAYERS", "InpaintingConfig", "PairedInpainting",
           "parameter_counts", "preset", "baselines_settings", "chapter_settings",
           "TrainSettings", "train_inpainting"]
