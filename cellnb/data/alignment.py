"""Single-cell preprocessing of the Integrated Cell papers: background, scale, align, centre, flip.

Johnson, Donovan-Maiye & Maleckar, "Generative Modeling with Conditional Autoencoders: Building
an Integrated Cell" (arXiv 1705.00092, 2017, Section 3.1) and "Building a 3D Integrated Cell"
(bioRxiv 238378, 2017, Section 3.1) describe the same preprocessing of each segmented cell:

1. per channel, subtract the most populous pixel intensity, set negative values to zero and
   rescale the intensities to [0, 1] (:func:`subtract_mode_background`,
   :func:`scale_to_unit_range`);
2. in 2-D only, a maximum projection along the height (z) axis (:func:`max_project`);
3. align the cell by the major axis of its shape (:func:`major_axis_angle`);
4. centre it on the centre of mass of the segmented nuclear region (:func:`nuclear_centroid`);
5. flip it according to image skew (:func:`skew_along`, :func:`canonical_flips`);
6. rescale to 0.317 um per pixel and pad to 256 x 256 pixels (2-D) or 128 x 96 x 64 voxels
   (3-D) (:func:`pixel_scale`, :func:`pad_or_crop`).

The papers give no code for these steps, so the choices below are ours and are stated where made.
Steps 3 to 6 are all geometric. Each step here computes its own small affine map (a rotation,
a flip, a scaling, a translation), and :func:`preprocess_cell` composes them into one matrix and
resamples the image **once**. Rotating, shifting and then cropping one after another would blur
the image at each interpolation and cut off corners that a later step would bring back into
view. The composed matrix is kept in the returned :class:`AlignmentRecord`, which can map points
both ways and put an aligned image (or a model's output) back onto the original pixel grid for
display (:func:`restore_input_geometry`).

Arrays are channels-first, with spatial axes (Y, X) in 2-D and (Z, Y, X) in 3-D. "Horizontal"
means along X, the last axis. In 3-D the rotation is about Z, within the imaging plane; z is
never rotated or flipped, because the coverslip below a cell is a real direction. The paper's
128 x 96 x 64 lists the longest side first: the aligned major axis lies along it. In this
module's (Z, Y, X) order that shape is :data:`PAPER_SHAPE_3D` = (64, 96, 128).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, segmentation

from .validation import DataFormatError

PAPER_PIXEL_SIZE_UM = 0.317
PAPER_SHAPE_2D = (256, 256)
PAPER_SHAPE_3D = (64, 96, 128)   # (Z, Y, X): the paper's 128 x 96 x 64, major axis along X
REQUIRED_ROLES = ("membrane", "dna")
SPATIAL_NAMES = {2: "(Y, X)", 3: "(Z, Y, X)"}


# --- checks -------------------------------------------------------------------------------------

def check_cell_image(image, channels: Mapping[str, int]) -> np.ndarray:
    """Check that ``image`` is one cell, (C, Y, X) or (C, Z, Y, X), with the channels named.

    ``channels`` maps roles to channel indices and must name at least ``"membrane"`` and
    ``"dna"``, the two reference channels the papers align and centre on.
    """
    if not isinstance(image, np.ndarray):
        raise DataFormatError(f"the cell image should be a numpy array, got "
                              f"{type(image).__name__}; convert it with np.asarray first")
    if image.ndim not in (3, 4):
        raise DataFormatError(
            f"the cell image should be (C, Y, X) for 2-D or (C, Z, Y, X) for 3-D, got "
            f"{image.ndim} dimensions (shape {image.shape}); add a channel axis with image[None] "
            "for one channel, or move the channel axis first with np.moveaxis(image, -1, 0)")
    if image.dtype.kind not in "uif":
        raise DataFormatError(f"the cell image should hold numbers, got dtype {image.dtype}")
    if not isinstance(channels, Mapping):
        raise DataFormatError(f"channels should map roles to indices, e.g. "
                              f"{{'membrane': 0, 'dna': 1}}, got {channels!r}")
    missing = [role for role in REQUIRED_ROLES if role not in channels]
    if missing:
        raise DataFormatError(
            f"channels lacks {missing}: the papers align on the cell (membrane) and centre on "
            f"the nucleus (DNA), so both are needed, e.g. channels={{'membrane': 0, 'dna': 1}}; "
            f"got {dict(channels)}")
    for role, index in channels.items():
        if not isinstance(index, (int, np.integer)) or not 0 <= index < image.shape[0]:
            raise DataFormatError(
                f"channels[{role!r}] = {index!r}, but the image has {image.shape[0]} channels "
                f"(shape {image.shape}, channels first); check the file's channel order")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise DataFormatError("the cell image holds NaN or infinite values; replace them (e.g. "
                              "np.nan_to_num) or drop the cell")
    return image


def _check_mask(mask, spatial_shape: tuple[int, ...], name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != spatial_shape:
        raise DataFormatError(f"{name} has shape {mask.shape}, but the image's spatial shape is "
                              f"{spatial_shape}; pass a mask of the same cell crop, without a "
                              "channel axis")
    mask = mask.astype(bool)
    if not mask.any():
        raise DataFormatError(f"{name} is empty (no pixel set); pass the segmentation of this "
                              "cell, or None to derive it from the image")
    return mask


def _check_target_shape(target_shape: Sequence[int], spatial_ndim: int) -> tuple[int, ...]:
    target_shape = tuple(int(size) for size in target_shape)
    if len(target_shape) != spatial_ndim or min(target_shape) < 1:
        paper = ("PAPER_SHAPE_2D", PAPER_SHAPE_2D) if spatial_ndim == 2 else (
            "PAPER_SHAPE_3D", PAPER_SHAPE_3D)
        raise DataFormatError(
            f"target_shape {target_shape} does not fit a {spatial_ndim}-D cell with spatial "
            f"axes {SPATIAL_NAMES[spatial_ndim]}: give {spatial_ndim} positive sizes, e.g. "
            f"{paper[0]} = {paper[1]}")
    return target_shape


# --- intensities --------------------------------------------------------------------------------

def mode_intensity(channel: np.ndarray, bins: int = 256) -> float:
    """The most populous intensity of one channel: the background level in the papers' sense.

    Both papers subtract "the most populous pixel intensity" of each channel. A segmented cell
    crop is mostly background, so the mode is the background level. Integer images, like the
    microscope's 8- and 16-bit data, have an exact mode. For float images, where no two noisy
    values are equal, the mode is found in the fullest of ``bins`` equal histogram bins. If
    one exact value in that bin holds at least 1% of the pixels (the zeros of a masked cell, or
    8-bit levels stored as floats), that value is returned. Otherwise the bin's centre is.
    """
    values = np.asarray(channel).ravel()
    if values.size == 0:
        raise DataFormatError("cannot take the mode of an empty channel")
    if values.dtype.kind in "uib":
        levels, counts = np.unique(values, return_counts=True)
        return float(levels[np.argmax(counts)])
    low, high = float(values.min()), float(values.max())
    if low == high:
        return low
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    fullest = int(np.argmax(counts))
    in_bin = values[(values >= edges[fullest]) & (values <= edges[fullest + 1])]
    levels, level_counts = np.unique(in_bin, return_counts=True)
    if level_counts.max() * 100 >= values.size:
        return float(levels[np.argmax(level_counts)])
    return float((edges[fullest] + edges[fullest + 1]) / 2)


def subtract_mode_background(image: np.ndarray, bins: int = 256
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Subtract each channel's mode and clip at zero (both papers, Section 3.1).

    Returns the float32 image and the subtracted level of each channel. Clipping keeps only
    signal above background: the papers set the negative values to zero.
    """
    image = np.asarray(image)
    modes = np.array([mode_intensity(channel, bins) for channel in image], dtype=np.float64)
    shape = (-1,) + (1,) * (image.ndim - 1)
    subtracted = image.astype(np.float64) - modes.reshape(shape)
    return np.clip(subtracted, 0, None).astype(np.float32), modes


def scale_to_unit_range(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each channel by its maximum, so it spans [0, 1] (both papers, Section 3.1).

    After :func:`subtract_mode_background` each channel's minimum is already 0, so dividing by
    the maximum is a min-max rescaling. Returns the image and each channel's divisor. A blank
    channel (maximum 0) stays at zero instead of becoming NaN.
    """
    image = np.asarray(image, dtype=np.float32)
    maxima = image.reshape(image.shape[0], -1).max(axis=1).astype(np.float64)
    divisors = np.where(maxima > 0, maxima, 1.0)
    shape = (-1,) + (1,) * (image.ndim - 1)
    return (image / divisors.reshape(shape)).astype(np.float32), maxima


def max_project(image: np.ndarray) -> np.ndarray:
    """Maximum projection of a (C, Z, Y, X) cell along Z, to (C, Y, X).

    The 2-D paper max-projects each 3-D cell "along the height dimension" (Section 3.1).
    Project a cell mask the same way with ``mask.any(axis=0)``.
    """
    if np.ndim(image) != 4:
        raise DataFormatError(f"max_project needs a (C, Z, Y, X) cell, got shape "
                              f"{np.shape(image)}")
    return np.asarray(image).max(axis=1)


# --- segmentation, when none is given ------------------------------------------------------------

def nucleus_mask_from_dna(dna: np.ndarray, sigma: float = 1.0,
                          min_fraction: float = 0.1) -> np.ndarray:
    """The nuclear region of a cell crop: Otsu threshold of the smoothed DNA channel.

    The papers centre on the "segmented nuclear region", which their upstream pipeline supplied.
    Without it, this threshold stands in. Every piece of at least ``min_fraction`` of the
    largest is kept, because a dividing cell's chromosomes form two masses and both belong to
    it. Pieces that touch the crop border are dropped (unless nothing else is left): they are
    usually a neighbour's nucleus.
    """
    smoothed = filters.gaussian(np.asarray(dna, dtype=np.float32), sigma=sigma,
                                preserve_range=True) if sigma > 0 else np.asarray(dna)
    if smoothed.max() <= smoothed.min():
        raise DataFormatError("the DNA channel is constant after background subtraction, so "
                              "there is no nucleus to centre on; check that channels['dna'] "
                              "points at the nuclear stain, or pass nucleus_mask")
    labels, count = ndi.label(smoothed > filters.threshold_otsu(smoothed))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    keep = sizes >= min_fraction * sizes.max()
    on_border = np.zeros(count, dtype=bool)
    on_border[np.unique(_border_values(labels))[1:] - 1] = True
    if (keep & ~on_border).any():
        keep &= ~on_border
    return _fill_holes(np.isin(labels, np.flatnonzero(keep) + 1))


def cell_mask_from_membrane(membrane: np.ndarray, nucleus_mask: np.ndarray,
                            sigma: float = 1.0) -> np.ndarray:
    """The cell's region: a watershed of the membrane channel grown from the nucleus.

    The papers align "by the major axis of the cell shape", from a segmentation their pipeline
    supplied. Without one, this stands in: the nucleus floods outwards through the dim
    cytoplasm, the crop's border floods inwards, and the two meet on the bright membrane ridge
    between them. The crop should leave some background around the cell.
    """
    smoothed = filters.gaussian(np.asarray(membrane, dtype=np.float32), sigma=sigma,
                                preserve_range=True) if sigma > 0 else np.asarray(membrane)
    markers = np.zeros(smoothed.shape, dtype=np.int32)
    border = np.zeros(smoothed.shape, dtype=bool)
    for axis in range(border.ndim):
        border[(slice(None),) * axis + (0,)] = True
        border[(slice(None),) * axis + (-1,)] = True
    markers[border] = 2
    markers[nucleus_mask] = 1
    return _fill_holes(segmentation.watershed(smoothed, markers) == 1)


def _warn_if_cell_hugs_nucleus(cell_mask: np.ndarray, nucleus_mask: np.ndarray) -> None:
    ratio = cell_mask.sum() / max(nucleus_mask.sum(), 1)
    if ratio < 1.5:
        warnings.warn(
            f"the derived cell mask is only {ratio:.1f}x the nucleus' size, so the membrane "
            "channel probably has no clear outline around the cell (a maximum projection of a "
            "crop with neighbours looks like that); segment the 3-D cell first and pass "
            "cell_mask, e.g. cell_mask_from_membrane on the stack, then mask.any(axis=0)",
            stacklevel=3)


def _border_values(labels: np.ndarray) -> np.ndarray:
    faces = [np.take(labels, index, axis=axis).ravel()
             for axis in range(labels.ndim) for index in (0, -1)]
    return np.concatenate([[0], *faces])


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill holes in 3-D and then in each z-slice, which closes shells open at the top."""
    filled = ndi.binary_fill_holes(mask)
    if filled.ndim == 3:
        filled = np.stack([ndi.binary_fill_holes(plane) for plane in filled])
    return filled


def isolate_cell(image: np.ndarray, cell_mask: np.ndarray, margin: int = 2) -> np.ndarray:
    """Zero every pixel farther than ``margin`` pixels outside the cell mask.

    The papers' inputs are "individual cells segmented from a field", shown alone on black.
    Neighbours in the crop would also pull the skew, so they are removed. The margin keeps the
    membrane itself, which a watershed line may leave just outside the mask.
    """
    grown = ndi.binary_dilation(cell_mask, iterations=margin) if margin > 0 else cell_mask
    return np.where(grown, image, 0).astype(image.dtype, copy=False)


# --- geometry: each step is a small affine map on (Z, Y, X) or (Y, X) coordinates --------------

def _coordinates(shape: tuple[int, ...]) -> list[np.ndarray]:
    return [np.arange(size, dtype=np.float64) for size in shape]


def _in_plane_moments(weights: np.ndarray, scale: Sequence[float]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and 2x2 covariance of the (y, x) coordinates, in scaled units."""
    plane = np.asarray(weights, dtype=np.float64)
    plane = plane.sum(axis=0) if plane.ndim == 3 else plane
    total = plane.sum()
    if total <= 0:
        raise DataFormatError("the cell mask (or weight image) is empty, so the cell has no "
                              "axis; pass a non-empty cell_mask or check the membrane channel")
    y = np.arange(plane.shape[0]) * scale[-2]
    x = np.arange(plane.shape[1]) * scale[-1]
    row, column = plane.sum(axis=1), plane.sum(axis=0)
    mean = np.array([row @ y, column @ x]) / total
    dy, dx = y - mean[0], x - mean[1]
    cov_yy = row @ dy**2 / total
    cov_xx = column @ dx**2 / total
    cov_yx = dy @ plane @ dx / total
    return mean, np.array([[cov_yy, cov_yx], [cov_yx, cov_xx]])


def major_axis_angle(weights: np.ndarray, scale: Sequence[float] | None = None
                     ) -> tuple[float, float]:
    """In-plane angle of the major axis (degrees) and the elongation of a mask or image.

    The papers align "by the major axis of the cell shape". Here that is the principal axis of
    the second moments of the cell mask (intensities work too) in the (Y, X) plane. A 3-D mask is
    summed over Z first, which gives the same in-plane moments. The angle runs from +X towards
    +Y (clockwise on screen, where rows go down) and lies in (-90, 90]. ``scale`` gives each
    axis's pixel size, so anisotropic pixels are measured in physical units.

    The elongation is the ratio of the standard deviations along the major and minor axes. Near
    1, the cell is round and its "major axis" is little more than noise: report it with the angle.
    """
    weights = np.asarray(weights)
    scale = (1.0,) * weights.ndim if scale is None else tuple(scale)
    _, cov = _in_plane_moments(weights, scale)
    (cov_yy, cov_yx), (_, cov_xx) = cov
    angle = 0.5 * np.degrees(np.arctan2(2 * cov_yx, cov_xx - cov_yy))
    angle = 90.0 if angle <= -90.0 else float(angle)
    low, high = np.linalg.eigvalsh(cov)
    elongation = float(np.sqrt(high / low)) if low > 0 else float("inf")
    return angle, elongation


def skew_along(weights: np.ndarray, angle_deg: float,
               scale: Sequence[float] | None = None) -> float:
    """Skewness of the weighted coordinate distribution along an in-plane direction.

    This is the third standardised moment of the pixel positions, projected on the direction
    at ``angle_deg`` (same convention as :func:`major_axis_angle`) and weighted by intensity.
    It is positive when the bulk of the signal sits towards the negative end of the axis, with
    a thinner tail towards the positive end. The papers flip "according to image skew"; this
    is the quantity whose sign is made canonical.
    """
    weights = np.asarray(weights, dtype=np.float64)
    scale = (1.0,) * weights.ndim if scale is None else tuple(scale)
    plane = weights.sum(axis=0) if weights.ndim == 3 else weights
    total = plane.sum()
    if total <= 0:
        raise DataFormatError("the skew channel is blank inside the cell, so there is no skew "
                              "to flip by; check channels or choose another skew_channel")
    radians = np.radians(angle_deg)
    y = np.arange(plane.shape[0])[:, None] * scale[-2]
    x = np.arange(plane.shape[1])[None, :] * scale[-1]
    position = x * np.cos(radians) + y * np.sin(radians)
    mean = (plane * position).sum() / total
    centred = position - mean
    variance = (plane * centred**2).sum() / total
    if variance <= 0:
        return 0.0
    return float((plane * centred**3).sum() / total / variance**1.5)


def canonical_flips(weights: np.ndarray, angle_deg: float,
                    scale: Sequence[float] | None = None
                    ) -> tuple[tuple[bool, bool], tuple[float, float]]:
    """Whether to flip along the major and minor in-plane axes, and the two skews before flips.

    After alignment the major axis is X and the minor axis is Y. Each axis is flipped when the
    skew along it is negative, so both skews end up positive: a cell and its mirror image come
    out the same. A skew near zero (a symmetric cell) makes that choice unstable.
    """
    skew_major = skew_along(weights, angle_deg, scale)
    skew_minor = skew_along(weights, angle_deg + 90.0, scale)
    return (skew_major < 0, skew_minor < 0), (skew_major, skew_minor)


def nuclear_centroid(nucleus_mask: np.ndarray) -> np.ndarray:
    """Centre of mass of the segmented nuclear region, in pixel coordinates (Z, Y, X) or (Y, X).

    The papers centre each cell on "the center of mass of the segmented nuclear region". That is
    the mask's centroid, with every nuclear pixel weighted equally, not the DNA intensity.
    """
    mask = np.asarray(nucleus_mask, dtype=bool)
    if not mask.any():
        raise DataFormatError("the nucleus mask is empty, so there is no centre to align on; "
                              "pass nucleus_mask or check that channels['dna'] is the DNA stain")
    return np.array(ndi.center_of_mass(mask), dtype=np.float64)


def pixel_scale(pixel_size_um: float | Sequence[float] | None, spatial_ndim: int,
                target_um: float = PAPER_PIXEL_SIZE_UM) -> np.ndarray:
    """Zoom factor per spatial axis that brings the pixel size to ``target_um``.

    Both papers rescale every cell to 0.317 um per pixel (voxel). ``None`` means the pixels are
    already at the target size. A single number is used for every axis. A sequence gives
    (Z, Y, X) or (Y, X) sizes, as confocal stacks usually have coarser z-steps.
    """
    if pixel_size_um is None:
        return np.ones(spatial_ndim)
    sizes = np.asarray(pixel_size_um, dtype=np.float64)
    sizes = np.full(spatial_ndim, float(sizes)) if sizes.ndim == 0 else sizes
    if sizes.shape != (spatial_ndim,) or not (sizes > 0).all():
        raise DataFormatError(f"pixel_size_um should be one positive number or {spatial_ndim} "
                              f"(one per axis {SPATIAL_NAMES[spatial_ndim]}), got "
                              f"{pixel_size_um!r}")
    return sizes / target_um


def translation_matrix(offset: Sequence[float]) -> np.ndarray:
    """Homogeneous matrix that adds ``offset`` to every coordinate."""
    matrix = np.eye(len(offset) + 1)
    matrix[:-1, -1] = offset
    return matrix


def scaling_matrix(factors: Sequence[float]) -> np.ndarray:
    """Homogeneous matrix that multiplies each coordinate by its factor (zoom or flip)."""
    return np.diag([*map(float, factors), 1.0])


def in_plane_rotation_matrix(angle_deg: float, spatial_ndim: int) -> np.ndarray:
    """Homogeneous matrix turning the in-plane direction ``angle_deg`` onto +X, about Z in 3-D.

    That is a rotation by ``-angle_deg``. Coordinates are ordered (Z, Y, X) or (Y, X); Z is
    left unchanged.
    """
    radians = np.radians(angle_deg)
    cos, sin = np.cos(radians), np.sin(radians)
    matrix = np.eye(spatial_ndim + 1)
    matrix[-3:-1, -3:-1] = [[cos, -sin], [sin, cos]]   # rows/columns (y, x)
    return matrix


def centre_of(shape: Sequence[int]) -> np.ndarray:
    """Centre of an array of ``shape`` in pixel coordinates: (size - 1) / 2 on each axis."""
    return (np.asarray(shape, dtype=np.float64) - 1) / 2


def resample(image: np.ndarray, forward: np.ndarray, output_shape: Sequence[int],
             order: int = 1) -> np.ndarray:
    """Resample each channel of ``image`` under the affine map ``forward`` (input -> output).

    Linear interpolation (``order=1``, the default) keeps every value between its neighbours, so
    [0, 1] images stay in [0, 1] without the overshoot of cubic splines. Use ``order=0`` for
    masks. Pixels that map from outside the input are zero: the padding of the papers.
    """
    backward = np.linalg.inv(forward)
    image = np.asarray(image)
    spatial_ndim = forward.shape[0] - 1
    channels = image[None] if image.ndim == spatial_ndim else image
    out = np.stack([ndi.affine_transform(channel.astype(np.float32, copy=False), backward,
                                         output_shape=tuple(output_shape), order=order,
                                         mode="constant", cval=0.0, prefilter=order > 1)
                    for channel in channels])
    return out[0] if image.ndim == spatial_ndim else out


def pad_or_crop(image: np.ndarray, target_shape: Sequence[int]) -> np.ndarray:
    """Pad with zeros or crop the spatial axes of ``image`` symmetrically to ``target_shape``.

    The papers pad every cell to a fixed size. :func:`preprocess_cell` does this as part of its
    single resampling. This stand-alone version is for images that are aligned already (e.g. the
    papers' released crops) and need only the size changed, with no interpolation.
    """
    image = np.asarray(image)
    target_shape = tuple(target_shape)
    lead = image.ndim - len(target_shape)
    if lead < 0:
        raise DataFormatError(f"target_shape {target_shape} has more axes than the image "
                              f"(shape {image.shape})")
    slices, pads = [slice(None)] * lead, [(0, 0)] * lead
    for size, want in zip(image.shape[lead:], target_shape):
        start = max(size - want, 0) // 2
        slices.append(slice(start, start + min(size, want)))
        extra = max(want - size, 0)
        pads.append((extra // 2, extra - extra // 2))
    return np.pad(image[tuple(slices)], pads)


# --- the whole preprocessing --------------------------------------------------------------------

@dataclass(frozen=True)
class AlignmentRecord:
    """What :func:`preprocess_cell` did to one cell, to report it and to undo it for display.

    Angles are in degrees, from +X towards +Y, in the input's pixel grid. ``forward`` is the
    homogeneous matrix that maps input pixel coordinates to output pixel coordinates; every
    coordinate is ordered (Z, Y, X) or (Y, X).
    """

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    channels: dict[str, int]
    background: tuple[float, ...]        # mode subtracted from each channel
    channel_max: tuple[float, ...]       # divisor of each channel after subtraction
    pixel_scale: tuple[float, ...]       # zoom per spatial axis to 0.317 um (1 = none)
    major_axis_angle_deg: float          # the cell's major axis before alignment
    elongation: float                    # major / minor standard deviation (near 1: round)
    skew_major: float                    # skew along the major axis before any flip
    skew_minor: float
    flipped_major: bool                  # flipped along X after rotation
    flipped_minor: bool                  # flipped along Y after rotation
    nucleus_centroid: tuple[float, ...]  # in input pixels
    nucleus_offset: tuple[float, ...]    # nucleus centroid minus the input's centre, pixels
    masks: str                           # "given" or "derived" (see preprocess_cell)
    forward: tuple[tuple[float, ...], ...]

    @property
    def rotation_deg(self) -> float:
        """The in-plane rotation applied: minus the major-axis angle."""
        return -self.major_axis_angle_deg

    @property
    def matrix(self) -> np.ndarray:
        return np.array(self.forward)

    def to_output(self, points) -> np.ndarray:
        """Map points (..., D) from input pixel coordinates to the preprocessed image's."""
        return _apply(self.matrix, points)

    def to_input(self, points) -> np.ndarray:
        """Map points (..., D) from the preprocessed image back to the input's pixels."""
        return _apply(np.linalg.inv(self.matrix), points)

    def as_dict(self) -> dict:
        """Plain values (lists, floats, strings) for tables and JSON."""
        record = asdict(self)
        record["forward"] = [list(row) for row in self.forward]
        record["rotation_deg"] = self.rotation_deg
        return record


def _apply(matrix: np.ndarray, points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:-1, :-1].T + matrix[:-1, -1]


def alignment_matrix(nucleus_centroid: Sequence[float], angle_deg: float,
                     flips: tuple[bool, bool], scale: Sequence[float],
                     output_shape: Sequence[int]) -> np.ndarray:
    """Compose the geometric steps into one input -> output matrix.

    The nucleus goes to the origin, then the map scales to 0.317 um pixels, rotates the major
    axis onto +X, flips by skew, and moves the origin to the output's centre. The nucleus
    therefore lands exactly on the centre and the pad/crop is simply the output's size.
    """
    spatial_ndim = len(scale)
    flip_factors = np.ones(spatial_ndim)
    flip_factors[-1] = -1.0 if flips[0] else 1.0
    flip_factors[-2] = -1.0 if flips[1] else 1.0
    return (translation_matrix(centre_of(output_shape))
            @ scaling_matrix(flip_factors)
            @ in_plane_rotation_matrix(angle_deg, spatial_ndim)
            @ scaling_matrix(scale)
            @ translation_matrix(-np.asarray(nucleus_centroid)))


def preprocess_cell(image: np.ndarray, *, channels: Mapping[str, int],
                    target_shape: Sequence[int] | None = None,
                    cell_mask: np.ndarray | None = None,
                    nucleus_mask: np.ndarray | None = None,
                    pixel_size_um: float | Sequence[float] | None = None,
                    skew_channel: str = "membrane", isolate: bool = True,
                    order: int = 1) -> tuple[np.ndarray, AlignmentRecord]:
    """Preprocess one segmented cell as the Integrated Cell papers do (Section 3.1 of both).

    Returns the float32 image in [0, 1], channels first, of shape (C, *target_shape), and an
    :class:`AlignmentRecord`.

    image:
        (C, Y, X) or (C, Z, Y, X), any numeric dtype. For the 2-D paper, max-project a 3-D cell
        first with :func:`max_project`.
    channels:
        Channel index of each role; ``"membrane"`` and ``"dna"`` are required, e.g.
        ``{"membrane": 0, "structure": 1, "dna": 2}``. Every channel is transformed; roles only
        say which channels to measure.
    target_shape:
        Spatial output shape; the default is the paper's, 256 x 256 in 2-D or
        :data:`PAPER_SHAPE_3D` (Z, Y, X) = (64, 96, 128) in 3-D.
    cell_mask, nucleus_mask:
        Segmentations of this cell. ``None`` derives them, with :func:`nucleus_mask_from_dna`
        and :func:`cell_mask_from_membrane`.
    pixel_size_um:
        Input pixel size, one value or one per spatial axis. It is rescaled to the papers'
        0.317 um. ``None`` means the pixels are already at that size.
    skew_channel:
        Role of the channel whose intensity skew fixes the flips (default the membrane).
    isolate:
        Zero pixels outside the cell (with a 2-pixel margin), as in the papers' segmented cells.
    order:
        Interpolation order of the single resampling; 1 (linear) keeps values in [0, 1].
    """
    check_cell_image(image, channels)
    if skew_channel not in channels:
        raise DataFormatError(f"skew_channel {skew_channel!r} is not one of the named channels "
                              f"{sorted(channels)}; name it in channels or use 'membrane'")
    spatial_shape = image.shape[1:]
    spatial_ndim = len(spatial_shape)
    default = PAPER_SHAPE_2D if spatial_ndim == 2 else PAPER_SHAPE_3D
    target_shape = _check_target_shape(default if target_shape is None else target_shape,
                                       spatial_ndim)

    cleaned, background = subtract_mode_background(image)
    scaled, channel_max = scale_to_unit_range(cleaned)
    membrane, dna = scaled[channels["membrane"]], scaled[channels["dna"]]

    given = cell_mask is not None and nucleus_mask is not None
    if nucleus_mask is None:
        nucleus_mask = nucleus_mask_from_dna(dna)
    nucleus_mask = _check_mask(nucleus_mask, spatial_shape, "nucleus_mask")
    if cell_mask is None:
        cell_mask = cell_mask_from_membrane(membrane, nucleus_mask)
        _warn_if_cell_hugs_nucleus(cell_mask, nucleus_mask)
    cell_mask = _check_mask(cell_mask, spatial_shape, "cell_mask")
    if isolate:
        scaled = isolate_cell(scaled, cell_mask)

    scale = pixel_scale(pixel_size_um, spatial_ndim)
    angle, elongation = major_axis_angle(cell_mask, scale)
    skew_weights = isolate_cell(scaled[channels[skew_channel]], cell_mask)
    flips, (skew_major, skew_minor) = canonical_flips(skew_weights, angle, scale)
    centroid = nuclear_centroid(nucleus_mask)
    forward = alignment_matrix(centroid, angle, flips, scale, target_shape)

    aligned = np.clip(resample(scaled, forward, target_shape, order), 0.0, 1.0)
    record = AlignmentRecord(
        input_shape=tuple(spatial_shape), output_shape=target_shape,
        channels={role: int(index) for role, index in channels.items()},
        background=tuple(map(float, background)), channel_max=tuple(map(float, channel_max)),
        pixel_scale=tuple(map(float, scale)), major_axis_angle_deg=angle,
        elongation=elongation, skew_major=skew_major, skew_minor=skew_minor,
        flipped_major=bool(flips[0]), flipped_minor=bool(flips[1]),
        nucleus_centroid=tuple(map(float, centroid)),
        nucleus_offset=tuple(map(float, centroid - centre_of(spatial_shape))),
        masks="given" if given else "derived",
        forward=tuple(tuple(map(float, row)) for row in forward))
    return aligned.astype(np.float32), record


def apply_alignment(array: np.ndarray, record: AlignmentRecord, order: int = 0) -> np.ndarray:
    """Carry another array of the same cell (a mask, a channel) through the same alignment.

    ``array`` is spatial-only or channels-first on the input grid. The default order 0 keeps
    masks binary.
    """
    return resample(array, record.matrix, record.output_shape, order)


def restore_input_geometry(aligned: np.ndarray, record: AlignmentRecord,
                           order: int = 1) -> np.ndarray:
    """Put a preprocessed image (or a model's output for it) back on the input's pixel grid.

    This undoes the rotation, flips, centring, rescaling and padding, so that a prediction can
    be overlaid on the original cell. Intensities stay in [0, 1]: the background subtraction and
    scaling are not undone, because model outputs have no raw units to return to.
    """
    return resample(aligned, np.linalg.inv(record.matrix), record.input_shape, order)
