"""Paired-cell-inpainting evaluations on crafted features whose answer is known: the feature
read-out, Table 1 (k-NN), Fig 2B and Table 2 (distances), Fig 5 (multi-localisation score and
variability), Fig 6 (variable images) and Fig 4 (protein clusters, the rare class)."""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.data.transforms import minmax_normalize
from cellnb.papers.paired_inpainting.data import EvaluationCells
from cellnb.papers.paired_inpainting.evaluate import (
    available,
    best_layer,
    cell_line_robustness,
    class_distances,
    compartment_cells,
    handcrafted,
    handcrafted_names,
    layer_features,
    layerwise_knn,
    missing,
    mixture_proteins,
    multilocalisation,
    protein_clustering,
    rare_neighbours,
    raw_pixels,
    variability_ranking,
    variable_image_clustering,
)
from cellnb.papers.paired_inpainting.model import LAYERS, PairedInpainting, preset

CLASSES = ("nucleoplasm", "cytoplasm", "nucleolus", "mitochondria")
RARE = "nucleolar_rim"
LINES = ("round", "elongated")
CELLS_PER_IMAGE = 8
DIMENSIONS = 8


def _toy_atlas(seed=0, noise=0.3, line_shift=0.0, crop_size=16):
    """Cells with features that sit around their class's centre, plus ground truth.

    Single-class proteins: 2 per class, 2 images each (one per cell line). MIX1 and MIX3 blend
    nucleoplasm and cytoplasm (alpha = nucleoplasm fraction, around 0.25 and 0.75), MIX2 nucleolus
    and cytoplasm; their cells lie at alpha * centre_1 + (1 - alpha) * centre_2. VAR1 has two
    images of half nucleoplasm, half cytoplasm cells. NRM1 is the rare class, two images.
    ``line_shift`` moves every elongated cell by a fixed vector: a cell-line nuisance.
    """
    rng = np.random.default_rng(seed)
    centres = {name: rng.normal(0, 3, DIMENSIONS) for name in (*CLASSES, RARE)}
    shift = line_shift * rng.normal(0, 1, DIMENSIONS)
    rows, features = [], []
    image = 0

    def add_image(protein, localization, label, line, centre_of_cell, **truth):
        nonlocal image
        for cell in range(CELLS_PER_IMAGE):
            centre, cell_truth = centre_of_cell(cell)
            features.append(centre + noise * rng.normal(0, 1, DIMENSIONS)
                            + (shift if line == "elongated" else 0))
            rows.append(dict(image=image, protein=protein, localization=localization,
                             label=label, cell_line=line, rare=localization == RARE,
                             alpha=np.nan, subpopulation=-1) | truth | cell_truth)
        image += 1

    def pure(name):
        return lambda cell: (centres[name], {"true_localization": name})

    for name in (*CLASSES, RARE):
        proteins = 1 if name == RARE else 2
        for p in range(proteins):
            for line in LINES:
                add_image(f"{name}-{p + 1}", name, name, line, pure(name))
    for protein, (first, second), alpha in (("MIX1", ("nucleoplasm", "cytoplasm"), 0.25),
                                            ("MIX2", ("nucleolus", "cytoplasm"), 0.5),
                                            ("MIX3", ("nucleoplasm", "cytoplasm"), 0.75)):
        def blend(cell, first=first, second=second, alpha=alpha):
            a = float(np.clip(alpha + rng.uniform(-0.2, 0.2), 0.02, 0.98))
            return (a * centres[first] + (1 - a) * centres[second],
                    {"true_localization": "mixed", "alpha": a})
        add_image(protein, "mixed", None, LINES[0], blend)
    for line in LINES:
        def either(cell):
            name = ("nucleoplasm", "cytoplasm")[cell % 2]
            return centres[name], {"true_localization": name, "subpopulation": cell % 2}
        add_image("VAR1", "variable", None, line, either)

    metadata = pd.DataFrame(rows)
    crops = torch.rand(len(metadata), 3, crop_size, crop_size,
                       generator=torch.Generator().manual_seed(seed))
    cells = EvaluationCells(crops, ("protein", "nucleus", "cell_marker"), metadata)
    return cells, np.asarray(features)


@pytest.fixture(scope="module")
def toy():
    return _toy_atlas()


def _with_metadata(cells, metadata):
    return EvaluationCells(cells.crops, cells.channels, metadata.reset_index(drop=True))


def _subset(cells, keep):
    positions = np.flatnonzero(np.asarray(keep))
    return EvaluationCells(cells.crops[positions], cells.channels,
                           cells.metadata.iloc[positions].reset_index(drop=True))


# ------------------------------------------------------------------------------ read-out

@pytest.fixture(scope="module")
def smoke_model():
    torch.manual_seed(0)
    return PairedInpainting(preset("smoke", source_channels=3, target_marker_channels=2))


def test_layer_features_equal_the_models_read_out_of_normalised_crops(smoke_model):
    crops = 5 * torch.rand(7, 3, 16, 16, generator=torch.Generator().manual_seed(1)) + 2
    smoke_model.train()
    features = layer_features(smoke_model, crops, batch_size=3)
    assert smoke_model.training                                  # mode restored
    assert list(features) == list(LAYERS)
    smoke_model.eval()
    with torch.no_grad():
        for layer in LAYERS:
            expected = smoke_model(minmax_normalize(crops), output_layer=layer).numpy()
            assert features[layer].shape == expected.shape
            np.testing.assert_allclose(features[layer], expected, rtol=1e-5, atol=1e-6)
            assert (features[layer] >= 0).all()                  # post-ReLU maxima
    alone = layer_features(smoke_model, crops[4:5], layers=("conv3",))
    assert list(alone) == ["conv3"]
    np.testing.assert_allclose(alone["conv3"][0], features["conv3"][4], rtol=1e-5, atol=1e-6)


def test_handcrafted_and_pixel_features_of_evaluation_cells(toy):
    cells, _ = toy
    features = handcrafted(cells)
    assert features.shape == (len(cells), len(handcrafted_names(cells)))
    assert "pearson_cell_marker" in handcrafted_names(cells)
    assert np.isfinite(features).all()
    assert raw_pixels(cells, n_components=5).shape == (len(cells), 5)


# ------------------------------------------------------------------------------ Table 1

def test_layerwise_knn_scores_labelled_cells_and_finds_the_best_layer(toy):
    cells, features = toy
    rng = np.random.default_rng(0)
    noise = rng.normal(size=features.shape)
    sets = {"pci": {"conv1": noise, "conv2": features},
            "hand-crafted": features + 0.1 * noise}
    table = layerwise_knn(sets, cells.metadata["label"])
    assert list(table.columns) == ["conv1", "conv2", "features"]
    assert table.loc["pci", "conv2"] == 1.0
    assert table.loc["hand-crafted", "features"] == 1.0
    assert np.isnan(table.loc["hand-crafted", "conv1"])
    assert table.loc["pci", "conv1"] < 0.5                       # 5 classes: chance is 0.2
    assert best_layer(table.loc["pci"]) == ("conv2", 1.0)


def test_shuffled_labels_score_near_chance(toy):
    cells, features = toy
    labels = cells.metadata["label"].to_numpy(dtype=object)
    labelled = pd.notna(labels)
    shuffled = labels.copy()
    shuffled[labelled] = np.random.default_rng(1).permutation(labels[labelled])
    table = layerwise_knn({"pci": features}, shuffled)
    assert table.loc["pci", "features"] < 0.4


# ------------------------------------------------------------------------ Fig 2B, Table 2

def test_class_distances_are_negative_for_the_true_classes_and_zero_for_shuffled(toy):
    cells, features = toy
    result = class_distances(features, cells, pairs=200)
    assert result["overall"] < -0.5
    assert set(result["per_class"]) == {*CLASSES, RARE}
    assert all(score < 0 for score in result["per_class"].values())
    assert result["excluded"] == []

    meta = cells.metadata.copy()
    single = meta["label"].notna()
    image_label = meta[single].groupby("image")["label"].first()
    shuffled = dict(zip(image_label.index,
                        np.random.default_rng(2).permutation(image_label.to_numpy())))
    meta.loc[single, "label"] = meta.loc[single, "image"].map(shuffled)
    null = class_distances(features, _with_metadata(cells, meta), pairs=200)
    assert abs(null["overall"]) < 0.15


def test_a_class_with_one_image_is_left_out_of_class_distances(toy):
    cells, features = toy
    meta = cells.metadata
    keep = (meta["image"] != meta.loc[meta["rare"], "image"].min()).to_numpy()
    result = class_distances(features[keep], _subset(cells, keep), pairs=100)
    assert result["excluded"] == [RARE]
    assert RARE not in result["per_class"]


def test_a_cell_line_nuisance_widens_the_same_vs_different_gap():
    cells, clean = _toy_atlas(line_shift=0.0)
    _, shifted = _toy_atlas(line_shift=3.0)
    table = cell_line_robustness({"robust": clean, "line-sensitive": shifted}, cells, pairs=500)
    assert list(table.columns) == ["same", "different", "difference"]
    assert (table[["same", "different"]] < 0).all().all()
    np.testing.assert_allclose(table["difference"], table["different"] - table["same"])
    assert table.loc["line-sensitive", "difference"] > table.loc["robust", "difference"] + 0.1
    assert abs(table.loc["robust", "difference"]) < 0.1


# --------------------------------------------------------------------------------- Fig 5

def test_multilocalisation_score_tracks_the_nuclear_fraction(toy):
    cells, features = toy
    table, summary = multilocalisation(features, cells)
    assert summary["spearman_rho"] < -0.9                        # more nuclear -> more negative
    assert summary["median_first"] < 0 < summary["median_second"]
    mixed = table[np.isfinite(table["first_fraction"])]
    assert set(mixed["protein"]) == {"MIX1", "MIX3"}             # MIX2 blends the nucleolus
    assert summary["n_mixed_cells"] == 2 * CELLS_PER_IMAGE
    assert set(table["group"]) == {"nucleoplasm", "cytoplasm", "MIX1", "MIX3", "other"}
    assert len(table) == len(cells)


def test_swapping_the_references_flips_the_sign_but_not_the_conclusion(toy):
    cells, features = toy
    forward, _ = multilocalisation(features, cells)
    backward, summary = multilocalisation(features, cells, first="cytoplasm",
                                          second="nucleoplasm")
    np.testing.assert_allclose(backward["score"], -forward["score"])
    assert summary["spearman_rho"] < -0.9                        # vs the cytoplasm fraction
    assert summary["median_first"] < 0 < summary["median_second"]


def test_the_catalogue_names_the_nucleus_cytoplasm_mixtures():
    mixtures = mixture_proteins("nucleoplasm", "cytoplasm")
    assert set(mixtures) == {"MIX1", "MIX3"}
    assert all(components == ("nucleoplasm", "cytoplasm") for components in mixtures.values())


def test_the_most_variable_images_are_the_variable_proteins(toy):
    cells, features = toy
    table, _ = multilocalisation(features, cells)
    ranking, summary = variability_ranking(table["score"].to_numpy(), cells, top=3)
    assert summary["n_variable"] == 2
    assert summary["precision_at_n_variable"] == 1.0
    assert summary["precision_at_top"] == pytest.approx(2 / 3)
    assert list(ranking["protein"][:2]) == ["VAR1", "VAR1"]
    assert ranking["sd"].is_monotonic_decreasing
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))


# --------------------------------------------------------------------------------- Fig 6

def test_separated_sub_populations_are_recovered_exactly(toy):
    cells, features = toy
    table = variable_image_clustering(features, cells)
    assert len(table) == 2 and set(table["protein"]) == {"VAR1"}
    assert (table["n_cells"] == CELLS_PER_IMAGE).all()
    assert (table["ari"] == 1.0).all()
    noise = np.random.default_rng(3).normal(size=features.shape)
    assert (variable_image_clustering(noise, cells)["ari"] < 0.5).all()


# --------------------------------------------------------------------------------- Fig 4

def test_proteins_cluster_by_class(toy):
    cells, features = toy
    table, summary = protein_clustering(features, cells)
    assert summary["n_proteins"] == 2 * len(CLASSES) + 1
    assert summary["n_classes"] == len(CLASSES) + 1
    assert summary["ari"] == 1.0 and summary["purity"] == 1.0
    noise = np.random.default_rng(4).normal(size=features.shape)
    assert protein_clustering(noise, cells)[1]["ari"] < 0.5


def test_the_rare_class_images_find_each_other(toy):
    cells, features = toy
    result = rare_neighbours(features, cells)
    assert (result["protein"], result["label"]) == (f"{RARE}-1", RARE)
    assert result["n_images"] == 2 and result["k"] == 1         # one other rare image to find
    assert result["image_precision"] == 1.0
    assert result["nearest_same_class_rank"] == 1
    assert len(result["nearest_proteins"]) == 10
    assert result["protein"] not in set(result["nearest_proteins"]["protein"])


def test_no_rare_cells_means_no_rare_analysis(toy):
    cells, features = toy
    keep = ~cells.metadata["rare"].to_numpy()
    subset = _subset(cells, keep)
    assert rare_neighbours(features[keep], subset) is None
    assert not available(subset, "rare_neighbours")


# ------------------------------------------------------------------------ missing truth

def test_analyses_name_the_ground_truth_they_lack(toy):
    cells, features = toy
    real = _with_metadata(cells, cells.metadata[["image", "protein", "label"]])
    assert available(real, "layerwise_knn") and available(real, "class_distances")
    for analysis in ("multilocalisation", "cell_line_robustness", "variable_image_clustering",
                     "variability_ranking", "rare_neighbours"):
        assert not available(real, analysis)
    assert "'cell_line'" in missing(real, "cell_line_robustness")
    no_alpha = _with_metadata(cells, cells.metadata.drop(columns="alpha"))
    with pytest.raises(ValueError, match=r"needs column 'alpha' \(.*synthetic ground truth"):
        multilocalisation(features, no_alpha)
    with pytest.raises(ValueError, match="'subpopulation'"):
        variable_image_clustering(features, _with_metadata(
            cells, cells.metadata.drop(columns="subpopulation")))
    with pytest.raises(ValueError, match="'rare'"):
        rare_neighbours(features, real)
    with pytest.raises(KeyError, match="unknown analysis"):
        available(cells, "fig 7")


def test_compartment_cells_are_those_of_proteins_living_in_the_two_compartments(toy):
    cells, _ = toy
    chosen = cells.metadata[compartment_cells(cells, "nucleoplasm", "cytoplasm")]
    assert set(chosen.protein) == {"nucleoplasm-1", "nucleoplasm-2", "cytoplasm-1",
                                   "cytoplasm-2", "MIX1", "MIX3", "VAR1"}


def test_image_means_average_each_images_standardised_cells(toy):
    from cellnb.papers.paired_inpainting.evaluate import image_means

    cells, features = toy
    means, per_image = image_means(features, cells)
    assert len(means) == len(per_image) == cells.metadata.image.nunique()
    standardised = (features - features.mean(0)) / features.std(0)
    first = per_image.image.iloc[0]
    rows = (cells.metadata.image == first).to_numpy()
    np.testing.assert_allclose(means[0], standardised[rows].mean(0), atol=1e-9)
    assert per_image.protein.iloc[0] == cells.metadata.protein[rows].iloc[0]
