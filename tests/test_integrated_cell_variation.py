"""Algorithm 4 and the walk of Fig. S9 (3D paper): the statistic on model and ground-truth draws,
medoids, and interpolation paths that start and end where they should."""
import numpy as np
import pytest
import torch

from cellnb.papers import integrated_cell as ic
from cellnb.papers.integrated_cell import variation
from cellnb.sim import IntegratedCellConfig as ToyCells


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ic.ConditionalModel(ic.preset("smoke")).eval()


def test_structure_samples_are_seeded_and_follow_z_s(model):
    zr = torch.zeros(model.config.latent_reference)
    a = variation.structure_samples(model, zr, 1, 6, seed=3)
    assert a.shape == (6, 32, 32)
    np.testing.assert_array_equal(a, variation.structure_samples(model, zr, 1, 6, seed=3))
    same = variation.structure_samples(model, zr, 1, 4, zs=torch.zeros(4, 8))
    assert np.allclose(same, same[0])                    # one z^s, one image
    assert not np.allclose(a[0], a[1])


def test_model_variation_is_larger_for_a_decoder_that_ignores_z_s(model):
    zr = np.zeros((2, model.config.latent_reference), np.float32)
    varied = variation.model_variation(model, zr, [0, 1], 12)
    assert varied.shape == (2,) and np.all(np.isfinite(varied))
    frozen = ic.ConditionalModel(ic.preset("smoke")).eval()
    with torch.no_grad():   # cut z^s out of the decoder's first layer: every draw the same
        frozen.decoder.fc.weight[:, -model.config.latent_structure:] = 0
    stereotyped = variation.model_variation(frozen, zr, [0, 1], 12)
    assert np.all(stereotyped > varied + 1)


def test_truth_variation_ranks_a_fixed_envelope_above_random_puncta():
    toy = ToyCells(n_cells=6, size=32, seed=1)
    envelope, puncta = variation.truth_variation(toy, [0, 0], ["envelope", "puncta"], 10)
    assert envelope > puncta            # stereotyped: larger -log det / n
    means = variation.variation_by_class([envelope, puncta], [0, 1], ["envelope", "puncta"])
    assert list(means.index) == ["envelope", "puncta"] and means["envelope"] == envelope


def test_medoids_minimise_the_summed_city_block_distance():
    codes = np.array([[0.0, 0], [1, 0], [2, 0], [10, 10], [11, 10]])
    assert variation.medoid(codes[:3]) == 1 and variation.medoid(codes) == 2   # pulled
    medoids = variation.state_medoids(codes, ["a", "a", "a", "b", "b"], ["b", "a", "c"])
    assert medoids == {"b": 3, "a": 1}
    with pytest.raises(ValueError):
        variation.medoid(np.zeros((0, 2)))


@pytest.mark.parametrize("kind", ["arc", "linear"])
def test_paths_start_and_end_at_the_anchors(kind):
    rng = np.random.default_rng(0)
    anchors = rng.standard_normal((3, 5))
    path = variation.walk(anchors, 6, kind=kind)
    assert path.shape == (11, 5)
    np.testing.assert_allclose(path[0], anchors[0])
    np.testing.assert_allclose(path[5], anchors[1])
    np.testing.assert_allclose(path[-1], anchors[2])


def test_the_arc_interpolates_the_radius_linearly_and_stays_on_the_great_circle():
    a, b = np.array([2.0, 0, 0]), np.array([0, 4.0, 0])
    path = variation.arc_path(a, b, 5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linspace(2, 4, 5))
    np.testing.assert_allclose(path[:, 2], 0)
    angles = np.arctan2(path[:, 1], path[:, 0])
    np.testing.assert_allclose(angles, np.linspace(0, np.pi / 2, 5))
    straight = variation.linear_path(a, b, 5)
    assert np.linalg.norm(straight[2]) < np.linalg.norm(path[2])   # the line cuts the corner
    with pytest.raises(ValueError):
        variation.walk(a[None], 3)
