"""A trained Integrated Cell measured against the chapter's criteria, one function per question.

:mod:`.evaluate` scores arrays; this module runs the trained models on the held-out cells to get
those arrays and hands each criterion its inputs, so the chapter's cells stay one line each and
the numbers its findings read (:mod:`.findings`) come from one place. Every function returns a
dict of plain numbers (and the tables behind them) and runs without gradients in eval mode.

The questions follow the 2D paper (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092):
reconstruction (Figs. S1-S2), prior matching (Sec. 2.1), what z^r means (Fig. S4),
classification (Table S9), the z-hat^r regression (eq. 8) and integration (Algorithm 3, Fig. 3).
On toy cells, integration is also scored against the ground-truth conditional mean that
:func:`cellnb.sim.resample_structure` draws (the paper, on real cells, could only look).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from skimage.filters import threshold_otsu

from . import evaluate
from .model import (
    STRUCTURE_INDEX,
    ConditionalModel,
    ConditionalOutput,
    ReferenceModel,
    generate,
    integrate,
    reference_latents,
    reference_of,
)

# Shape parameters of the toy cells that a 2D image shows (heights are for 3D; the nuclear
# angle is circular and the harmonics' phases too): what z^r should encode (criterion R3).
SHAPE_PARAMETERS = ("cell_major", "cell_minor", "nucleus_major", "nucleus_minor",
                    "nucleus_offset", "boundary_amplitude")
# Classes whose placement the reference fixes, up to little randomness (cellnb.sim.integrated):
# integration must get these right (criterion I1).
REFERENCE_DETERMINED = ("envelope", "nucleolus", "cytoplasm")
RIM_WIDTH = 2.0 / 64          # the nuclear rim band's half-width, as a fraction of the image side
TRAVERSAL_STEPS = np.linspace(-3, 3, 5)   # SD along one z^r axis: Fig. S4b's -3, -1.5 ... 3


def _batched(function, tensor: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([function(chunk) for chunk in tensor.split(batch_size)])


@dataclass
class HeldOut:
    """The held-out cells and what both trained models make of them, computed once."""

    positions: np.ndarray            # rows of the chapter's data
    images: torch.Tensor             # (n, 3, ...) membrane, structure, DNA
    labels: np.ndarray               # (n,) class indices
    metadata: pd.DataFrame           # the cells' metadata rows (shape parameters on toy cells)
    zr: torch.Tensor                 # Enc^r(x^r), the reference code Algorithm 3 uses
    reference_reconstruction: torch.Tensor   # Dec^r(z^r), (n, 2, ...)
    output: ConditionalOutput        # Enc^{r,s} / Dec^{r,s} on the whole cell

    def __len__(self) -> int:
        return len(self.positions)


@torch.no_grad()
def held_out(reference: ReferenceModel, conditional: ConditionalModel, data, *,
             part: str = "test") -> HeldOut:
    """Run both models (eval mode, on their device) over the cells of ``part``."""
    reference.eval()
    conditional.eval()
    device = next(conditional.parameters()).device
    positions = np.asarray(data.parts[part])
    images = data.images[positions]
    on = images.to(device)
    zr = _batched(lambda x: reference_latents(reference, reference_of(x)), on)
    reconstruction = _batched(reference.decode, zr)
    outputs = [conditional(x) for x in on.split(256)]
    output = ConditionalOutput(*(torch.cat([getattr(o, f) for o in outputs]).cpu()
                                 for f in ("class_log_probs", "zr_hat", "zs", "reconstruction")))
    return HeldOut(positions, images, data.labels[positions].numpy(),
                   data.metadata.iloc[positions].reset_index(drop=True), zr.cpu(),
                   reconstruction.cpu(), output)


# --- R1: reconstruction ------------------------------------------------------------------------

def reconstruction_check(data, held: HeldOut, *, train_reconstruction=None,
                         stage: str = "reference") -> dict:
    """Test vs train reconstruction error and the mean-image baseline (criterion R1).

    ``stage`` "reference" scores Dec^r(Enc^r(x^r)) on membrane + DNA, "conditional" the whole
    cell through Enc^{r,s} / Dec^{r,s}. ``train_reconstruction``: the same stage's
    reconstructions of (some) training cells, ``(images, reconstructions)``; their BCE is the
    train side of the overfitting check.
    """
    select = reference_of if stage == "reference" else (lambda x: x)
    test_images = select(held.images)
    test_rec = held.reference_reconstruction if stage == "reference" \
        else held.output.reconstruction
    train_mean = select(data.images[data.parts["train"]]).mean(0)
    scores = evaluate.reconstruction_scores(test_rec.numpy(), test_images.numpy(),
                                            train_mean.numpy())
    summary = evaluate.reconstruction_summary(scores)
    result = dict(stage=stage, test_mse=summary["mse"], mean_image_mse=summary["baseline_mse"],
                  test_bce=summary["bce"], train_bce=None)
    if train_reconstruction is not None:
        images, reconstructed = train_reconstruction
        result["train_bce"] = float(evaluate.per_image_bce(
            np.asarray(reconstructed), np.asarray(select(images))).mean())
    return result


@torch.no_grad()
def train_reconstructions(reference: ReferenceModel, conditional: ConditionalModel, data, *,
                          n: int = 256, seed: int = 0) -> dict:
    """Reconstructions of ``n`` random training cells by each stage (eval mode), for R1 and
    the train rows of Figs. S1-S2: {"reference": (images, rec), "conditional": (images, rec)}."""
    rng = np.random.default_rng(seed)
    train = np.asarray(data.parts["train"])
    chosen = np.sort(rng.choice(train, size=min(n, len(train)), replace=False))
    images = data.images[chosen]
    device = next(conditional.parameters()).device
    reference.eval()
    conditional.eval()
    ref = _batched(lambda x: reference.decode(reference.encode(reference_of(x))),
                   images.to(device)).cpu()
    cond = _batched(lambda x: conditional(x).reconstruction, images.to(device)).cpu()
    return {"reference": (images, ref), "conditional": (images, cond), "positions": chosen}


# --- R2: prior matching ------------------------------------------------------------------------

def prior_check(codes, *, codes_without_encd=None, repeats: int = 20, seed: int = 0) -> dict:
    """Moments of the codes and their MMD^2 to N(0, I), with and without EncD (criterion R2).

    ``mmd_noise`` is the standard deviation of the MMD^2 between as many prior draws and
    another prior sample over ``repeats`` seeds: how much two samples of the prior differ at
    this size, the smallest gap between two MMDs worth reading.
    """
    codes = np.asarray(codes, float)
    moments = evaluate.code_moments(codes)
    noise = [evaluate.mmd_to_prior(np.random.default_rng(seed + 1000 + r).standard_normal(
        codes.shape), seed=seed + r) for r in range(repeats)]
    result = dict(moments=moments, max_abs_mean=float(moments["mean"].abs().max()),
                  min_std=float(moments["std"].min()), max_std=float(moments["std"].max()),
                  mmd=evaluate.mmd_to_prior(codes, seed=seed), mmd_noise=float(np.std(noise)),
                  mmd_without_encd=None)
    if codes_without_encd is not None:
        result["mmd_without_encd"] = evaluate.mmd_to_prior(np.asarray(codes_without_encd, float),
                                                           seed=seed)
    return result


# --- R3, T1: what z^r means ----------------------------------------------------------------------

def semantics_check(codes, metadata: pd.DataFrame, *, seed: int = 0) -> dict | None:
    """Cross-validated ridge R^2 from z^r to each shape parameter the metadata holds (R3);
    None when it holds none (real cells)."""
    names = [name for name in SHAPE_PARAMETERS if name in metadata]
    if not names:
        return None
    r2 = evaluate.latent_semantics_r2(np.asarray(codes), metadata[names], seed=seed)
    return dict(r2=float(r2.mean()), per_parameter=r2)


@torch.no_grad()
def traversals(reference: ReferenceModel, *, steps=TRAVERSAL_STEPS) -> np.ndarray:
    """Dec^r along every z^r axis from the prior's mode: (|z^r|, len(steps), 2, ...)."""
    reference.eval()
    device = next(reference.parameters()).device
    size = reference.config.latent_reference
    steps = torch.as_tensor(np.asarray(steps), dtype=torch.float32)
    codes = torch.zeros(size, len(steps), size)
    for axis in range(size):
        codes[axis, :, axis] = steps
    frames = reference.decode(codes.view(-1, size).to(device)).cpu()
    return frames.view(size, len(steps), *frames.shape[1:]).numpy()


def traversal_check(frames: np.ndarray) -> dict:
    """Is the decoded cell's area monotone along some z^r axis? (criterion T1, Fig. S4b).

    ``frames`` from :func:`traversals`; the area is the filled membrane mask per frame.
    """
    rows = []
    for axis, walk in enumerate(frames):
        areas = evaluate.membrane_area(walk[:, 0])
        rows.append(dict(axis=axis, **evaluate.traversal_monotonicity(areas),
                         area_change=int(areas[-1] - areas[0])))
    table = pd.DataFrame(rows).set_index("axis")
    best = int(table.spearman.abs().idxmax())
    return dict(table=table, axis=best, spearman=float(table.spearman[best]),
                monotone=bool(table.monotone[best]), n_monotone=int(table.monotone.sum()),
                n_axes=len(table))


# --- C1, C2: what the conditional encoder reads -------------------------------------------------

def rarest_class(data) -> str:
    """The class with the fewest training cells: the analogue of the paper's Myosin IIB / ZO1,
    reported on its own (on toy cells, the designed rare class)."""
    counts = np.bincount(data.labels[data.parts["train"]].numpy(), minlength=data.n_classes)
    return data.class_names[int(np.argmin(counts))]


def classification_check(held: HeldOut, class_names, *, rare: str | None = None) -> dict:
    """The hold-out confusion matrix of ŷ and its report (criterion C1; Table S9)."""
    predicted = held.output.class_log_probs.argmax(1).numpy()
    confusion = evaluate.confusion_table(held.labels, predicted, class_names)
    rare = rare if rare in list(class_names) else None
    return dict(confusion=confusion, n=len(held),
                **evaluate.classification_report(confusion, rare=rare))


def zr_regression_check(held: HeldOut) -> float:
    """R^2 of z-hat^r against Enc^r's z^r on held-out cells (criterion C2; eq. 8)."""
    return evaluate.regression_r2(held.output.zr_hat.numpy(), held.zr.numpy())


# --- I1, I2: integration --------------------------------------------------------------------------

def ground_truth_means(sim_config, held: HeldOut, class_names, *, n: int = 16,
                       classes=None) -> np.ndarray:
    """E[x^s | r, y] of each held-out cell from ``n`` fresh draws per class: (cells, K', ...),
    for every class of ``classes`` (default: each cell's own class only, shape (cells, ...))."""
    from ...sim import resample_structure

    cells = held.metadata["cell"].astype(int).to_numpy()
    if classes is None:
        return np.stack([resample_structure(sim_config, cell, class_names[label], n).mean(0)
                         for cell, label in zip(cells, held.labels)])
    return np.stack([np.stack([resample_structure(sim_config, cell, class_names[k], n).mean(0)
                               for k in classes]) for cell in cells])


def integration_check(predictions: np.ndarray, held: HeldOut, templates: np.ndarray,
                      class_names, *, truths: np.ndarray | None = None) -> dict:
    """Algorithm 3's predictions against the ground truth and the class template (I1).

    ``predictions``: :func:`.model.integrate` on the held-out z^r, (cells, K, 3, ...);
    ``truths``: each cell's ground-truth conditional mean for its own class (cells, ...), or
    None for real cells (then only the template's agreement with the observed cell is known).
    ``determined_r`` averages the model's r over the reference-determined classes.
    """
    own = predictions[np.arange(len(held)), held.labels, STRUCTURE_INDEX]
    if truths is None:
        return dict(ground_truth=False)
    scores = evaluate.integration_scores(own, truths, templates, held.labels)
    summary = evaluate.integration_summary(scores, class_names)
    determined = [class_names.index(c) for c in REFERENCE_DETERMINED if c in class_names]
    chosen = scores.label.isin(determined)
    return dict(ground_truth=True, scores=scores, **summary,
                determined_r=float(scores.model_r[chosen].mean()) if chosen.any() else np.nan)


def nucleus_masks(dna: np.ndarray) -> np.ndarray:
    """The nucleus of each cell as the paper describes placements, "inside the DNA": the DNA
    channel above its Otsu threshold, holes filled, largest component. Input (n, H, W)."""
    masks = []
    for image in np.asarray(dna, float):
        mask = image > threshold_otsu(image) if np.ptp(image) > 0 else np.zeros(image.shape, bool)
        labelled, count = ndimage.label(ndimage.binary_fill_holes(mask))
        if count > 1:
            sizes = ndimage.sum(mask, labelled, range(1, count + 1))
            mask = labelled == 1 + int(np.argmax(sizes))
        masks.append(mask)
    return np.stack(masks)


def _share(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each image's intensity above its median (the background) inside its mask."""
    images = np.asarray(images, float)
    flat = images.reshape(len(images), -1)
    signal = np.clip(flat - np.median(flat, axis=1, keepdims=True), 0, None)
    total = signal.sum(1)
    inside = (signal * masks.reshape(len(masks), -1)).sum(1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def placement_check(predictions: np.ndarray, held: HeldOut, class_names, *,
                    truths: np.ndarray | None = None) -> dict | None:
    """Fig. 3's reading, measured: the predicted nucleolus's share inside the DNA and the
    predicted envelope's share on the nuclear rim, for every held-out cell (each cell's own DNA
    decides). ``truths`` (cells, K, ...) in ``class_names`` order gives the same shares of the
    ground-truth means; None on real cells. None when either class is missing."""
    if "nucleolus" not in class_names or "envelope" not in class_names:
        return None
    nucleolus, envelope = class_names.index("nucleolus"), class_names.index("envelope")
    nuclei = nucleus_masks(held.images[:, -1].numpy())
    width = max(1, int(round(RIM_WIDTH * nuclei.shape[-1])))
    rims = np.stack([ndimage.binary_dilation(m, iterations=width)
                     & ~ndimage.binary_erosion(m, iterations=width) for m in nuclei])
    result = dict(nucleolus_inside=float(_share(predictions[:, nucleolus, STRUCTURE_INDEX],
                                                nuclei).mean()),
                  envelope_rim=float(_share(predictions[:, envelope, STRUCTURE_INDEX],
                                            rims).mean()),
                  nucleolus_inside_truth=None, envelope_rim_truth=None)
    if truths is not None:
        result["nucleolus_inside_truth"] = float(_share(truths[:, nucleolus], nuclei).mean())
        result["envelope_rim_truth"] = float(_share(truths[:, envelope], rims).mean())
    return result


def invariance_check(predictions: np.ndarray) -> dict:
    """Do the decoded reference channels of a cell agree across the K classes? (I2).

    Per cell, the smallest pairwise Pearson r between the K decodings of membrane + DNA;
    ``median_min_r`` over cells and the ``worst_r`` cell.
    """
    reference = np.delete(predictions, STRUCTURE_INDEX, axis=2)
    per_cell = np.array([evaluate.reference_invariance(cell)["min_r"] for cell in reference])
    return dict(per_cell=per_cell, median_min_r=float(np.median(per_cell)),
                worst_r=float(per_cell.min()))


def integrate_held_out(conditional: ConditionalModel, held: HeldOut, *,
                       batch_size: int = 64) -> np.ndarray:
    """Algorithm 3 for every held-out cell and class: (cells, K, 3, ...) as numpy."""
    device = next(conditional.parameters()).device
    return torch.cat([integrate(conditional, zr.to(device)).cpu()
                      for zr in held.zr.split(batch_size)]).numpy()


# --- G1, G2, L1: the generated distribution and the structure code (3D paper) -------------------

@torch.no_grad()
def class_probabilities(conditional: ConditionalModel, images: torch.Tensor, *,
                        batch_size: int = 128) -> np.ndarray:
    """p(y | x) from the conditional encoder's class head, the classifier of 3D Table S10."""
    conditional.eval()
    device = next(conditional.parameters()).device
    return torch.cat([conditional(chunk.to(device)).class_log_probs.exp().float().cpu()
                      for chunk in images.split(batch_size)]).numpy()


@torch.no_grad()
def generated_cells(conditional: ConditionalModel, labels, *, seed: int = 0,
                    batch_size: int = 128) -> torch.Tensor:
    """Cells decoded from the prior, z~^r and z~^s, for the given classes (3D Table S10's
    "generated" column; Fig. S6's generated distribution)."""
    conditional.eval()
    device = next(conditional.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return torch.cat([generate(conditional, chunk.to(device), generator=generator).float().cpu()
                      for chunk in labels.split(batch_size)])


def inception_check(conditional: ConditionalModel, data, held: HeldOut, *, seed: int = 0,
                    n_train: int = 1024) -> pd.DataFrame:
    """Inception scores with the model's own classifier (criterion G1; 3D Table S10).

    Columns: ``data train`` (up to ``n_train`` training cells), ``data test``, ``enc-dec
    test`` (the held-out cells' reconstructions), ``generated`` (as many cells decoded from the
    prior with the held-out cells' classes) and ``bound``: 1 / p(y = k) per class and exp(H(y))
    over all classes, what a confident, correct classifier reaches (:func:`.evaluate.
    inception_bounds`), the training class frequencies. Rows: classes and "all classes".
    """
    names = list(data.class_names)
    rng = np.random.default_rng(seed)
    train = np.asarray(data.parts["train"])
    chosen = np.sort(rng.choice(train, size=min(n_train, len(train)), replace=False))
    sources = {
        "data train": (data.images[chosen], data.labels[chosen].numpy()),
        "data test": (held.images, held.labels),
        "enc-dec test": (held.output.reconstruction, held.labels),
        "generated": (generated_cells(conditional, held.labels, seed=seed), held.labels)}
    table = pd.DataFrame({name: evaluate.inception_scores(
        class_probabilities(conditional, images), labels, names)
        for name, (images, labels) in sources.items()})
    counts = pd.Series(np.bincount(data.labels[train].numpy(), minlength=len(names)),
                       index=names)
    return table.join(evaluate.inception_bounds(counts[counts > 0]))


def correlation_check(held: HeldOut, generated: torch.Tensor, class_names) -> pd.DataFrame:
    """Within-class pairwise-correlation distributions of the structure channel, held-out data
    against generated cells and against their reconstructions, as KS distances (criterion G2;
    3D Fig. S6). ``generated`` are cells of the held-out cells' classes (same order)."""
    data = held.images[:, STRUCTURE_INDEX].numpy()
    others = {"generated": generated[:, STRUCTURE_INDEX].numpy(),
              "enc-dec test": held.output.reconstruction[:, STRUCTURE_INDEX].numpy()}
    return pd.concat({name: evaluate.correlation_distribution_distance(
        data, held.labels, images, held.labels, list(class_names))["ks"]
        for name, images in others.items()}, axis=1)


def leakage_check(held: HeldOut, *, seed: int = 0) -> dict:
    """How well the class can be read from z^s (criterion L1): cross-validated logistic
    regression on the held-out cells' structure codes, against the majority-class rate."""
    counts = np.bincount(held.labels)
    folds = int(np.clip(counts[counts > 0].min(), 2, 5))   # stratified folds need members
    return evaluate.class_leakage(held.output.zs.numpy(), held.labels, seed=seed, folds=folds)


# --- 3D paper: how variable each structure is (Algorithm 4) and the walk between states -------

STATES = ("interphase", "mitotic")   # the toy cells' states: the 3D paper's interphase and M1-M7


def cell_states(metadata: pd.DataFrame) -> np.ndarray | None:
    """Each cell's state name (:data:`STATES`) from the toy cells' ``mitotic`` flag; None for cells
    without one (the Allen manifests name mitotic stages differently, when at all)."""
    if "mitotic" not in metadata:
        return None
    return np.where(metadata["mitotic"].astype(bool).to_numpy(), STATES[1], STATES[0])


def variation_cells(held: HeldOut, per_state: int, *, seed: int = 0) -> np.ndarray:
    """Positions into the held-out cells for Algorithm 4: up to ``per_state`` random cells of each
    state (all held-out cells' if there are no states), sorted."""
    rng = np.random.default_rng(seed)
    states = cell_states(held.metadata)
    groups = [np.arange(len(held))] if states is None else [
        np.flatnonzero(states == state) for state in STATES]
    return np.sort(np.concatenate([rng.choice(group, min(per_state, len(group)), replace=False)
                                   for group in groups]))


def variation_check(conditional: ConditionalModel, held: HeldOut, class_names, positions, n: int,
                    *, sim_config=None, seed: int = 0) -> dict:
    """Algorithm 4 in every chosen held-out cell for every structure (criteria V1 and V2; 3D Sec.
    3.4.5, Figs. S7-S8), against the toy cells' ground truth when ``sim_config`` is given.

    Returns ``table`` (one row per cell and class: ``position``, ``label``, ``structure``,
    ``state``, ``model`` and ``truth`` = -log det(corr) / n of n decoded and n true structures;
    smaller is more variable), ``by_class`` (their per-class means), V1's ``spearman`` /
    ``n_classes`` with the most stereotyped and most variable class of each, and ``mitosis``:
    class -> :func:`.evaluate.state_shift` of the model's values (empty without mitotic cells
    among those chosen; None for cells without states), ``mitosis_truth`` the same of the truth's
    (None without ``sim_config``).
    """
    from .variation import model_variation, truth_variation, variation_by_class

    positions = np.asarray(positions, int)
    k = len(class_names)
    cells, labels = np.repeat(positions, k), np.tile(np.arange(k), len(positions))
    states = cell_states(held.metadata)
    table = pd.DataFrame({
        "position": cells, "label": labels,
        "structure": [class_names[label] for label in labels],
        "state": STATES[0] if states is None else states[cells],
        "model": model_variation(conditional, held.zr[cells].numpy(), labels, n, seed=seed)})
    if sim_config is not None:
        ids = held.metadata["cell"].astype(int).to_numpy()[cells]
        table["truth"] = truth_variation(sim_config, ids, labels, n, seed=seed)
    by_class = pd.DataFrame({column: variation_by_class(table[column], labels, class_names)
                             for column in ("model", "truth") if column in table})
    result = dict(table=table, by_class=by_class, spearman=None, n_classes=len(by_class))
    if "truth" in by_class:
        result.update(evaluate.variation_agreement(by_class.model, by_class.truth))
        result["most_stereotyped"] = by_class.idxmax().to_dict()   # largest: least variable
        result["most_variable"] = by_class.idxmin().to_dict()
    if states is None:
        return dict(result, mitosis=None, mitosis_truth=None)
    mitotic = table.state == STATES[1]
    for key, column in (("mitosis", "model"), ("mitosis_truth", "truth")):
        result[key] = None if column not in table else {
            name: evaluate.state_shift(group[column], mitotic[group.index])
            for name, group in table.groupby("structure", sort=False)
            if mitotic[group.index].any() and (~mitotic[group.index]).any()}
    return result


def state_walk(conditional: ConditionalModel, held: HeldOut, steps_per_leg: int, *,
               kind: str = "arc") -> dict:
    """The walk of 3D Fig. S9 on the held-out cells: the medoid z^r of each state (city-block,
    as the authors' code), a path through them (arc or linear, :func:`.variation.walk`) and every
    structure decoded along it at z^s = 0. Returns ``frames`` (steps, K, 3, ...), ``path``,
    ``anchors`` (state -> held-out position), ``states`` (step index -> state name, for the
    figures) and the ``norms`` of the path's codes (an arc keeps them near the anchors')."""
    from .explore import walk_frames
    from .variation import state_medoids, walk

    states = cell_states(held.metadata)
    if states is None:
        raise ValueError("the walk goes between cell states; these cells have no 'mitotic' flag")
    anchors = state_medoids(held.zr.numpy(), states, STATES)
    if len(anchors) < 2:
        raise ValueError(f"the held-out cells hold only {sorted(anchors)}: the walk needs a cell "
                         "of each state (simulate more cells or hold out more)")
    path = walk(held.zr.numpy()[list(anchors.values())], steps_per_leg, kind=kind)
    labels = {i * (steps_per_leg - 1): state for i, state in enumerate(anchors)}
    return dict(frames=walk_frames(conditional, path), path=path, anchors=anchors,
                states=labels, norms=np.linalg.norm(path, axis=1))


def encd_design_check(held: HeldOut, class_names, *, seed: int = 0) -> dict:
    """What one EncD^s design does to the structure code, on held-out cells (criterion L1 and
    its side effects): the class probe's ``accuracy``, ``chance`` and ``excess``
    (:func:`leakage_check`), the class head's hold-out ``class_accuracy`` (Table S11's number:
    does moving the class out of z^s help ŷ?) and z^s's ``zs_mmd`` to N(0, I) (does the code
    still match the prior?)."""
    predicted = held.output.class_log_probs.argmax(1).numpy()
    confusion = evaluate.confusion_table(held.labels, predicted, list(class_names))
    return dict(leakage_check(held, seed=seed),
                class_accuracy=evaluate.confusion_accuracy(confusion)[2],
                zs_mmd=evaluate.mmd_to_prior(held.output.zs.numpy(), seed=seed))
