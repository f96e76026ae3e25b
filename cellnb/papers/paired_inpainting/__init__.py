"""Paired cell inpainting (Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019): the chapter's model
and library code. The chapter itself is not written yet (issue #9, in progress).

* :mod:`.model` - the architecture: a source-cell encoder, a target-marker encoder, a decoder that
  paints the target cell's protein; presets; feature read-out at every source conv layer.
* :mod:`.pairs` - pairs of cells from one image: the sampler, flips, normalisation, image splits.
* :mod:`.data` - cells found by segmentation in the atlas's fields, images with too few cells
  dropped, splits by image.
* :mod:`.train` - training through ``cellnb.train`` (exact resume), with the self-pair and
  autoencoder baselines.

The estimators the chapter scores with are generic and live in ``cellnb.evaluation`` (leave-one-
out k-NN, normalised pairwise distances, the multi-localisation score); the real data's readers
in ``cellnb.data.pci_readers``; the counterfactual target in ``cellnb.sim.repaint_field``.
"""
