"""How variable each structure is in a given cell, and walks through the reference space: the 3D
paper's Algorithm 4 (Sec. 2.5, 3.4.5; Figs. S7-S8) and latent traversal (Sec. 3.4.6, Fig. S9).

Algorithm 4 fixes a cell's reference code z^r and a structure y, decodes n structures from draws
z~^s of the prior, and scores their spread as -log det(corr) / n (:func:`.evaluate.
variation_statistic`: more variable, smaller). On toy cells the same statistic of n fresh
ground-truth draws (:func:`cellnb.sim.resample_structure`) says what the model should find.

The walk picks a medoid cell per state in z^r (the authors' code: city-block distance, over test
cells) and interpolates between consecutive medoids, linearly or along a great circle with the
radius interpolated linearly ("linearly in radial coordinates", Sec. 3.4.6), decoding every
structure at z^s = 0 along the way.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.spatial.distance import cdist

from . import evaluate
from .model import STRUCTURE_INDEX, ConditionalModel

# --- Algorithm 4 ---------------------------------------------------------------------------------

@torch.no_grad()
def structure_samples(model: ConditionalModel, zr, label: int, n: int, *, zs=None,
                      seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """n structure channels Dec^{r,s}(one-hot y, z^r, z~^s) of one cell: (n, *image_shape).

    ``zr`` is the cell's reference code (|z^r|,); ``zs`` (n, |z^s|) replaces the prior draws,
    e.g. encodings of real cells (the authors' code's choice, notes of Sec. 2.5 aside).
    """
    model.eval()
    device = next(model.parameters()).device
    zr = torch.as_tensor(zr, dtype=torch.float32, device=device).reshape(1, -1)
    if zs is None:
        generator = torch.Generator().manual_seed(seed)
        zs = torch.randn(n, model.config.latent_structure, generator=generator)
    zs = torch.as_tensor(zs, dtype=torch.float32)
    code = model.one_hot_code(torch.tensor([label]))
    out = []
    for chunk in zs.split(batch_size):
        m = len(chunk)
        decoded = model.decode(code.expand(m, -1).to(device), zr.expand(m, -1),
                               chunk.to(device))
        out.append(decoded[:, STRUCTURE_INDEX].float().cpu())
    return torch.cat(out).numpy()


def model_variation(model: ConditionalModel, zr, labels, n: int, *, seed: int = 0) -> np.ndarray:
    """Algorithm 4 for each (cell, class): -log det(corr) / n of n decoded structures.

    ``zr`` (cells, |z^r|); ``labels`` (cells,) the class to decode in each cell. Each cell's
    draws come from its own seeded stream, so a cell's value does not depend on the others.
    """
    zr = np.asarray(zr, np.float32)
    return np.array([evaluate.variation_statistic(
        structure_samples(model, code, int(label), n, seed=seed + i))
        for i, (code, label) in enumerate(zip(zr, np.asarray(labels)))])


def truth_variation(sim_config, cells, classes, n: int, *, seed: int = 0) -> np.ndarray:
    """The same statistic of n ground-truth draws of each (cell, class):
    :func:`cellnb.sim.resample_structure` in the generated cell, class ``classes[i]``."""
    from ...sim import resample_structure

    return np.array([evaluate.variation_statistic(
        resample_structure(sim_config, int(cell), k, n, seed=seed))
        for cell, k in zip(cells, classes)])


def variation_by_class(values, labels, class_names: Sequence[str]) -> pd.Series:
    """Per class, the mean of the per-cell statistic (V1 compares these between model and
    truth; more variable classes have smaller values)."""
    table = pd.DataFrame({"value": np.asarray(values, float), "label": np.asarray(labels)})
    means = table.groupby("label").value.mean()
    means.index = [class_names[int(k)] for k in means.index]
    return means.rename("variation")


# --- the walk of Fig. S9 -------------------------------------------------------------------------

def medoid(codes) -> int:
    """The row of ``codes`` whose summed city-block (L1) distance to the others is smallest."""
    codes = np.asarray(codes, float)
    if len(codes) == 0:
        raise ValueError("a medoid needs at least one code")
    return int(cdist(codes, codes, "cityblock").sum(1).argmin())


def state_medoids(codes, states, order: Sequence) -> dict:
    """For each state of ``order`` present in ``states``, the position (into ``codes``) of its
    medoid cell."""
    codes, states = np.asarray(codes, float), np.asarray(states)
    result = {}
    for state in order:
        members = np.flatnonzero(states == state)
        if len(members):
            result[state] = int(members[medoid(codes[members])])
    return result


def linear_path(a, b, steps: int) -> np.ndarray:
    """``steps`` points from a to b on a straight line, both ends included: (steps, d)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.linspace(0, 1, steps)[:, None]
    return (1 - t) * a + t * b


def arc_path(a, b, steps: int) -> np.ndarray:
    """``steps`` points from a to b along the great circle between their directions, the radius
    interpolated linearly between |a| and |b|: "linearly in radial coordinates" (3D paper
    Sec. 3.4.6). A straight line through the origin of a Gaussian code would pass where no
    code lives (near 0); this path keeps a typical norm. Both ends included."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ra, rb = np.linalg.norm(a), np.linalg.norm(b)
    if ra == 0 or rb == 0:
        return linear_path(a, b, steps)
    ua, ub = a / ra, b / rb
    angle = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    t = np.linspace(0, 1, steps)[:, None]
    if angle < 1e-8:
        directions = np.repeat(ua[None], steps, 0)
    else:
        directions = (np.sin((1 - t) * angle) * ua + np.sin(t * angle) * ub) / np.sin(angle)
    path = directions * ((1 - t) * ra + t * rb)
    path[0], path[-1] = a, b
    return path


def walk(anchors, steps_per_leg: int, *, kind: str = "arc") -> np.ndarray:
    """A path through consecutive ``anchors`` (e.g. the state medoids' codes), ``steps_per_leg``
    points per leg, shared ends counted once: (legs * (steps_per_leg - 1) + 1, d)."""
    paths = {"arc": arc_path, "linear": linear_path}
    if kind not in paths:
        raise ValueError(f"kind is 'arc' or 'linear', got {kind!r}")
    anchors = np.asarray(anchors, float)
    if len(anchors) < 2:
        raise ValueError("a walk needs at least two anchors")
    legs = [paths[kind](a, b, steps_per_leg) for a, b in zip(anchors[:-1], anchors[1:])]
    return np.concatenate([legs[0]] + [leg[1:] for leg in legs[1:]])
