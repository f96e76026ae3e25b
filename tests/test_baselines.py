"""Training-free baselines and the kNN yardstick, on data whose answer is known."""
import numpy as np
import pytest

from cellnb.evaluation.baselines import (
    handcrafted_features,
    random_cnn_features,
    raw_pixel_features,
)
from cellnb.evaluation.knn import knn_accuracy


def _blobs(n, inside, rng):
    """Crops with a bright disc either at the centre (inside) or as a ring around it."""
    yy, xx = np.mgrid[:32, :32]
    r = np.hypot(yy - 16, xx - 16)
    protein = np.where(inside, np.exp(-(r / 4) ** 2), np.exp(-((r - 9) / 2) ** 2))
    images = protein[None] * rng.uniform(0.5, 2, (n, 1, 1)) + 0.05 * rng.standard_normal((n, 32, 32))
    distance = ((6 - r) / 32)[None].repeat(n, 0)
    return images.astype(np.float32), distance.astype(np.float32)


def test_knn_separates_separable_classes_and_not_shuffled_labels():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (100, 5)), rng.normal(4, 1, (100, 5))])
    labels = np.repeat(["a", "b"], 100)
    train = rng.permutation(200)[:150]
    test = np.setdiff1d(np.arange(200), train)
    assert knn_accuracy(features[train], labels[train], features[test], labels[test]) > 0.95
    shuffled = rng.permutation(labels)
    assert knn_accuracy(features[train], shuffled[train], features[test], shuffled[test]) < 0.75


def test_knn_refuses_mismatched_dimensions():
    with pytest.raises(ValueError, match="dimensions"):
        knn_accuracy(np.zeros((4, 3)), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1])


def test_handcrafted_features_tell_nuclear_from_ring_patterns():
    rng = np.random.default_rng(1)
    nuclear, distance = _blobs(60, True, rng)
    ring, _ = _blobs(60, False, rng)
    features = handcrafted_features(np.concatenate([nuclear, ring]), np.concatenate([distance, distance]))
    assert features.shape == (120, 12) and np.isfinite(features).all()
    nuclear_fraction = features[:, 4]
    assert nuclear_fraction[:60].min() > nuclear_fraction[60:].max()


def test_constant_crops_give_finite_features():
    flat = np.ones((3, 16, 16), np.float32)
    assert np.isfinite(handcrafted_features(flat, np.zeros_like(flat))).all()
    assert np.isfinite(raw_pixel_features(flat[:, None], n_components=None)).all()


def test_random_cnn_features_are_seeded_and_pooled():
    images = np.random.default_rng(2).random((5, 3, 32, 32)).astype(np.float32)
    a = random_cnn_features(images, seed=0, width=8)
    assert a.shape == (5, 32)
    np.testing.assert_array_equal(a, random_cnn_features(images, seed=0, width=8))
    assert not np.array_equal(a, random_cnn_features(images, seed=1, width=8))


def test_raw_pixel_pca_is_fitted_on_training_images_only():
    rng = np.random.default_rng(3)
    images = rng.random((40, 1, 8, 8)).astype(np.float32)
    train = np.arange(40) < 30
    a = raw_pixel_features(images, n_components=5, fit_on=train)
    images[~train] = rng.random((10, 1, 8, 8))   # changing test images must not move train features
    b = raw_pixel_features(images, n_components=5, fit_on=train)
    np.testing.assert_allclose(a[train], b[train], rtol=1e-4, atol=1e-5)


def test_atlas_hardness_scores_single_class_crops_on_held_out_fields():
    from cellnb.evaluation.baselines import atlas_hardness
    from cellnb.sim import AtlasConfig, generate_crops

    crops = generate_crops(AtlasConfig(n_proteins=32, fields_per_protein=2, crops_per_field=3,
                                       cells_per_field=12, field_size=160), progress=False)
    table = atlas_hardness(crops, seed=0)
    single = ~crops.metadata.localization.isin(["mixed", "variable"])
    assert list(table.n_train + table.n_test) == [int(single.sum())] * 3
    assert ((table.balanced_knn_accuracy >= 0) & (table.balanced_knn_accuracy <= 1)).all()
    assert table.attrs["chance"] == 1 / crops.metadata.localization[single].nunique()
