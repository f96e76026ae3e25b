"""Vector quantisation: nearest codes, straight-through gradients, the loss, perplexity, splits."""
import pytest
import torch

from cellnb.papers.cytoself.model import (
    VectorQuantizer,
    code_histogram,
    perplexity_of,
    split_vectors,
    unsplit_vectors,
)


@pytest.fixture
def quantizer():
    torch.manual_seed(0)
    return VectorQuantizer(16, 4, splits=3)


def test_split_and_unsplit_are_exact_inverses():
    z = torch.randn(2, 12, 5, 7)
    vectors = split_vectors(z, 3)
    assert vectors.shape == (2, 3, 5, 7, 4)
    assert torch.equal(unsplit_vectors(vectors), z)
    # A split is a contiguous block of channels: split 1 holds channels 4..7.
    assert torch.equal(vectors[1, 1, 2, 3], z[1, 4:8, 2, 3])
    with pytest.raises(ValueError, match="cannot be split"):
        split_vectors(z, 5)


def test_output_is_the_nearest_code_of_each_split_vector(quantizer):
    z = torch.randn(2, 12, 3, 3)
    out = quantizer(z)
    vectors = split_vectors(z, 3).reshape(-1, 4)
    nearest = torch.cdist(vectors, quantizer.codebook).argmin(1)
    assert torch.equal(out.indices.reshape(-1), nearest)
    assert torch.allclose(split_vectors(out.vectors, 3).reshape(-1, 4), quantizer.codebook[nearest],
                          atol=1e-6)
    # h * w * s vectors per image, all from one shared codebook.
    assert out.indices.shape == (2, 3, 3, 3)
    assert torch.equal(out.histogram.sum(1), torch.full((2,), 27.0))


def test_straight_through_passes_the_gradient_unchanged(quantizer):
    z = torch.randn(2, 12, 3, 3, requires_grad=True)
    weight = torch.randn(2, 12, 3, 3)
    (quantizer(z).vectors * weight).sum().backward()
    assert torch.allclose(z.grad, weight)


def test_loss_is_codebook_plus_beta_commitment_and_only_the_codebook_term_moves_codes(quantizer):
    z = torch.randn(4, 12, 2, 2, requires_grad=True)
    out = quantizer(z)
    codes = quantizer.codebook[out.indices.reshape(-1)]
    vectors = split_vectors(z, 3).reshape(-1, 4)
    expected = ((codes - vectors) ** 2).mean()
    assert torch.allclose(out.codebook_loss, expected) and torch.allclose(out.commitment_loss, expected)
    assert torch.allclose(out.loss, 1.25 * expected)
    out.commitment_loss.backward()
    assert quantizer.codebook.grad is None or quantizer.codebook.grad.abs().sum() == 0
    quantizer.zero_grad()
    out = quantizer(z)
    out.codebook_loss.backward()
    used = torch.unique(out.indices)
    assert quantizer.codebook.grad[used].abs().sum() > 0


def test_beta_scales_the_encoders_commitment_gradient_and_leaves_the_codebooks_alone():
    """Where beta acts (VQ-VAE's loss, cytoself Methods): the encoder output z receives beta times
    the commitment gradient (the codebook term is detached from z), and the codebook receives
    exactly the codebook term's gradient (the commitment term is detached from the codes)."""
    torch.manual_seed(0)
    z = torch.randn(3, 12, 2, 2)

    def gradients(beta, term="loss"):
        quantizer = VectorQuantizer(16, 4, splits=3, commitment=beta)
        quantizer.codebook.data = torch.linspace(-1, 1, 64).view(16, 4)
        leaf = z.clone().requires_grad_()
        getattr(quantizer(leaf), term).backward()
        return leaf.grad, quantizer.codebook.grad

    z_grad, codebook_grad = gradients(0.25)
    commitment_z_grad, _ = gradients(0.25, "commitment_loss")
    _, codebook_term_grad = gradients(0.25, "codebook_loss")
    assert torch.allclose(z_grad, 0.25 * commitment_z_grad)
    assert torch.allclose(codebook_grad, codebook_term_grad)
    z_grad_2, codebook_grad_2 = gradients(1.0)
    assert torch.allclose(z_grad_2, 4 * z_grad)              # beta acts on the encoder only
    assert torch.allclose(codebook_grad_2, codebook_grad)


def test_perplexity_is_one_for_a_single_code_and_k_for_uniform_use():
    assert perplexity_of(torch.zeros(50, dtype=torch.long), 8).item() == pytest.approx(1.0)
    assert perplexity_of(torch.arange(8).repeat(10), 8).item() == pytest.approx(8.0, rel=1e-5)
    mixed = perplexity_of(torch.tensor([0, 0, 0, 1]), 8).item()
    assert 1 < mixed < 2


def test_code_histogram_counts_per_image():
    indices = torch.tensor([[[0, 1], [1, 3]], [[2, 2], [2, 2]]])
    histogram = code_histogram(indices, 4)
    assert torch.equal(histogram, torch.tensor([[1.0, 2, 0, 1], [0, 0, 4, 0]]))


def test_wrong_width_is_refused_with_the_expected_channels(quantizer):
    with pytest.raises(ValueError, match="expected 3 x 4 = 12 channels"):
        quantizer(torch.randn(1, 15, 2, 2))

