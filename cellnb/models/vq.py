"""Vector quantisation as in VQ-VAE (van den Oord et al. 2017) and cytoself (notes §1.2).

The codebook is learned by gradient, not by exponential moving averages, as in the code behind
the cytoself paper: the codebook term ``||sg(z) - e||^2`` moves the codes towards the encoder
outputs and the commitment term ``beta * ||z - sg(e)||^2`` (beta = 0.25) keeps the encoder near
its codes. The straight-through estimator ``z + sg(e - z)`` passes the decoder's and the
classifiers' gradients to the encoder unchanged.

*Split quantisation* (cytoself Supp. Fig. 7) cuts every C = s * D channel vector into s
contiguous D-channel pieces and quantises each against one shared codebook, so a 4 x 4 x 576
global map gives 4 * 4 * 9 = 144 codes instead of 16. :func:`split_vectors` and
:func:`unsplit_vectors` are exact inverses.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def split_vectors(z: torch.Tensor, splits: int) -> torch.Tensor:
    """(B, s*D, H, W) -> (B, s, H, W, D): the D-dim vectors that are quantised, split by split."""
    batch, channels, height, width = z.shape
    if channels % splits:
        raise ValueError(f"{channels} channels cannot be split into {splits} equal parts")
    return z.view(batch, splits, channels // splits, height, width).permute(0, 1, 3, 4, 2)


def unsplit_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """(B, s, H, W, D) -> (B, s*D, H, W), the exact inverse of :func:`split_vectors`."""
    batch, splits, height, width, dim = vectors.shape
    return vectors.permute(0, 1, 4, 2, 3).reshape(batch, splits * dim, height, width)


@dataclass
class Quantized:
    """What one quantiser returns; every diagnostic comes with the quantised tensor."""

    vectors: torch.Tensor          # (B, s*D, H, W) straight-through quantised map
    indices: torch.Tensor | None   # (B, s, H, W) code index of every vector (None: no VQ)
    histogram: torch.Tensor | None  # (B, K) code counts per image, summing to s*H*W
    codebook_loss: torch.Tensor    # ||sg(z) - e||^2
    commitment_loss: torch.Tensor  # ||z - sg(e)||^2 (unweighted)
    loss: torch.Tensor             # codebook_loss + beta * commitment_loss
    perplexity: torch.Tensor       # exp(entropy of the batch's code usage), in [1, K]


def perplexity_of(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(-sum p log p) of the code usage p over all vectors: 1 for one code, K for uniform use."""
    # A scatter, not bincount: bincount's length depends on the data, which breaks torch.compile's graph.
    usage = code_histogram(indices.reshape(1, -1), n_codes)[0]
    usage = usage / usage.sum()
    return torch.exp(-(usage * torch.log(usage.clamp_min(1e-12))).sum())


class VectorQuantizer(nn.Module):
    """A codebook of ``n_codes`` vectors of ``dim`` channels; ``splits`` pieces per input vector.

    Initialised uniformly in +-sqrt(3/K) (the PyTorch port's choice; notes §1.2).
    """

    def __init__(self, n_codes: int, dim: int, *, splits: int = 1, commitment: float = 0.25):
        super().__init__()
        self.n_codes, self.dim, self.splits, self.commitment = n_codes, dim, splits, commitment
        bound = (3 / n_codes) ** 0.5
        self.codebook = nn.Parameter(torch.empty(n_codes, dim).uniform_(-bound, bound))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (squared Euclidean distance) for each row of ``flat``."""
        codebook = self.codebook.to(flat.dtype)
        distances = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t()
                     + codebook.pow(2).sum(1)[None])
        return distances.argmin(1)

    def forward(self, z: torch.Tensor) -> Quantized:
        vectors = split_vectors(z, self.splits)                 # (B, s, H, W, D)
        if vectors.shape[-1] != self.dim:
            raise ValueError(f"expected {self.splits} x {self.dim} = {self.splits * self.dim} "
                             f"channels to quantise, got {z.shape[1]}")
        flat = vectors.reshape(-1, self.dim)
        # Distances and losses in fp32 even under autocast: argmin over codes is precision-sensitive.
        flat32 = flat.float()
        with torch.no_grad():
            indices = self.nearest(flat32)
        codes = F.embedding(indices, self.codebook)             # (N, D), gradient to the codebook
        codebook_loss = F.mse_loss(codes, flat32.detach())
        commitment_loss = F.mse_loss(flat32, codes.detach())
        straight_through = flat32 + (codes - flat32).detach()
        quantized = unsplit_vectors(straight_through.view(vectors.shape)).to(z.dtype)
        indices = indices.view(vectors.shape[:-1])              # (B, s, H, W)
        histogram = code_histogram(indices, self.n_codes)
        return Quantized(quantized, indices, histogram, codebook_loss, commitment_loss,
                         codebook_loss + self.commitment * commitment_loss,
                         perplexity_of(indices, self.n_codes))


def code_histogram(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """(B, ...) code indices -> (B, K) counts per image, in one scatter (no per-image loop)."""
    flat = indices.reshape(indices.shape[0], -1)
    counts = torch.zeros(flat.shape[0], n_codes, device=indices.device)
    return counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=counts.dtype))


class IdentityQuantizer(nn.Module):
    """The "without vector quantization" ablation: passes vectors through, with zero VQ loss."""

    def __init__(self, n_codes: int = 1, dim: int = 0, *, splits: int = 1, commitment: float = 0.25):
        super().__init__()
        self.n_codes, self.dim, self.splits = n_codes, dim, splits

    def forward(self, z: torch.Tensor) -> Quantized:
        zero = z.new_zeros((), dtype=torch.float32)
        return Quantized(z, None, None, zero, zero, zero, zero + 1)
