"""Paired cell inpainting (Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019): the chapter's model
and library code (in progress).

* :mod:`.model` - the architecture: a source-cell encoder, a target-marker encoder, a decoder that
  paints the target cell's protein; presets; feature read-out at every source conv layer.
* :mod:`.pairs` - pairs of cells from one image: the sampler, flips, normalisation, image splits.
"""
