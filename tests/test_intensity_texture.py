"""The "classic" intensity, co-localisation and Haralick texture features of paired cell
inpainting's human benchmark, on crops whose answer is known."""
import numpy as np
import pytest

from cellnb.evaluation.baselines import intensity_texture_features, intensity_texture_names


def _crops(n=6, size=16, markers=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, size, size)).astype(np.float32),
            rng.random((n, markers, size, size)).astype(np.float32))


def test_one_named_column_per_feature():
    protein, markers = _crops()
    features = intensity_texture_features(protein, markers, distances=(1, 2))
    names = intensity_texture_names(["nucleus", "cell_marker"], (1, 2))
    assert features.shape == (6, 3 + 2 + 4 * 2) == (6, len(names))
    assert names[:5] == ["protein_sum", "protein_mean", "protein_sd", "pearson_nucleus",
                         "pearson_cell_marker"]
    assert names[5:9] == ["contrast_d1", "homogeneity_d1", "energy_d1", "correlation_d1"]
    assert intensity_texture_names(2, (1,))[3:5] == ["pearson_marker0", "pearson_marker1"]


def test_intensity_statistics_of_a_half_bright_crop():
    protein = np.zeros((1, 8, 8), np.float32)
    protein[0, :, 4:] = 5.0                                      # min-max -> half 0, half 1
    features = intensity_texture_features(protein, np.ones((1, 1, 8, 8)), distances=(1,))
    assert features[0, :3] == pytest.approx([32.0, 0.5, 0.5])


def test_constant_crops_give_finite_features():
    protein = np.full((3, 16, 16), 7.0, np.float32)
    markers = np.zeros((3, 2, 16, 16), np.float32)
    features = intensity_texture_features(protein, markers)
    assert np.isfinite(features).all()
    assert features[:, 3:5] == pytest.approx(0)                 # no correlation with a flat image
    energy = intensity_texture_names(2).index("energy_d1")
    assert features[:, energy] == pytest.approx(1)               # one grey level: energy 1


def test_features_ignore_each_crops_gain_and_offset():
    protein, markers = _crops()
    original = intensity_texture_features(protein, markers)
    rescaled = intensity_texture_features(3 * protein + 10, 0.5 * markers - 2)
    assert rescaled == pytest.approx(original, rel=1e-5, abs=1e-5)   # float32 input rounding


def test_pearson_with_the_markers():
    protein, _ = _crops(n=2)
    markers = np.stack([protein, 1 - protein], axis=1)          # the same image, its negative
    features = intensity_texture_features(protein, markers)
    assert features[:, 3] == pytest.approx(1, abs=1e-5)
    assert features[:, 4] == pytest.approx(-1, abs=1e-5)


def test_texture_tells_a_checkerboard_from_a_smooth_ramp():
    yy, xx = np.mgrid[:16, :16]
    checkerboard = ((yy + xx) % 2).astype(np.float32)
    ramp = (xx / 15).astype(np.float32)
    features = intensity_texture_features(np.stack([checkerboard, ramp]),
                                          np.ones((2, 1, 16, 16)), distances=(1,))
    names = intensity_texture_names(1, (1,))
    contrast = names.index("contrast_d1")
    assert features[0, contrast] > 10 * features[1, contrast]   # neighbours differ vs alike
    assert np.isfinite(features).all()


def test_bad_shapes_and_distances_are_refused():
    protein, markers = _crops(size=8)
    with pytest.raises(ValueError, match="distances"):
        intensity_texture_features(protein, markers, distances=(8,))
    with pytest.raises(ValueError, match="markers"):
        intensity_texture_features(protein, markers[:, 0])
