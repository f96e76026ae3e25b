"""The Integrated Cell's networks: sizes of the papers' tables, shapes in 2D and 3D (including the
3D paper's 128x96x64), the loss bookkeeping of eqs. 5-18 and the gradient routing of Section 2.3.

Large presets are built on the meta device: their parameters and shapes exist without memory or
arithmetic, so counting the 3D paper's 254 M parameters and pushing a 128x96x64 volume through it
costs nothing. (A real batch-1 forward of ``paper_3d`` takes about 4 s after 6 s of building on two
CPU cores, too slow for this file; the meta forward checks the same shapes.)
"""
import math

import pytest
import torch

from cellnb.nn import infer
from cellnb.papers import integrated_cell as ic
from cellnb.papers.integrated_cell.model import (
    Decoder,
    Encoder,
    feature_sizes,
    output_paddings,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


def build(model_class, name: str, *, meta: bool = False, seed: int = 0, **overrides):
    config = ic.preset(name, **overrides)
    torch.manual_seed(seed)
    if meta:
        with torch.device("meta"):
            return model_class(config)
    return model_class(config)


def cells(config, batch: int = 4, seed: int = 1, device=None):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, config.total_channels, *config.image_shape, generator=g)
    labels = torch.randint(0, config.n_classes, (batch,), generator=g)
    return images.to(device) if device else images, labels


# ---------------------------------------------------------------------- parameter counts

def conv(cin, cout, *, dims=2, bias=False):
    """A 4x4 (4x4x4) convolution's parameters."""
    return cin * cout * 4 ** dims + (cout if bias else 0)


def linear(fin, fout):
    return fin * fout + fout


def ladder(widths, cin, *, dims=2, bias=False):
    sizes = (cin, *widths)
    return sum(conv(a, b, dims=dims, bias=bias) for a, b in zip(sizes, sizes[1:]))


def test_paper_counts_follow_the_2d_tables():
    """Tables S3, S5-S7 of the 2D paper, counted by hand: K = 10, |z^r| = |z^s| = 16, 256x256."""
    k, z, ch = 10, 16, (64, 128, 256, 512, 1024, 1024)
    flat = 1024 * 4 * 4
    encoder = (ladder(ch, 3) + 2 * sum(ch) + 6                    # convs, BN, one PReLU each
               + linear(flat, k) + 2 * k + 2 * (linear(flat, z) + 2 * z))   # heads with BN
    decoder = (linear(k + 2 * z, flat) + 2 * 1024 + 1             # FC, its BN and PReLU
               + ladder((1024, 512, 256, 128, 64, 3), 1024)       # transposed convs
               + 2 * (1024 + 512 + 256 + 128 + 64 + 3) + 5)       # BN incl. the output's; PReLU
    encd = linear(z, 1024) + linear(1024, 1024) + 2 * 1024 + linear(1024, 512) + 2 * 512 \
        + linear(512, 1)
    decd_ch = (64, 128, 256, 512, 512)
    decd = ladder(decd_ch, 3) + 2 * sum(decd_ch) + conv(512, k + 1, bias=True)
    counts = ic.parameter_counts(build(ic.ConditionalModel, "paper", meta=True))
    assert counts == {"encoder": encoder, "decoder": decoder, "encd": encd, "decd": decd,
                      "total": encoder + decoder + encd + decd}
    assert (encoder, decoder, decd) == (28_615_684, 28_631_948, 7_042_955)


@pytest.mark.parametrize("name, millions", [
    # The sizes of the authors' topologies with K = 10 (2D) and K = 11 (3D), in millions.
    ("code", {"encoder": 28.6, "decoder": 28.6, "decd": 7.3, "encd": 1.6}),
    ("code_3d", {"encoder": 112, "decoder": 112, "decd": 112, "encd": 1.7}),
])
def test_code_presets_have_the_published_sizes(name, millions):
    counts = ic.parameter_counts(build(ic.ConditionalModel, name, meta=True))
    for network, expected in millions.items():
        digits = 1 if expected < 100 else 0
        assert round(counts[network] / 1e6, digits) == expected, (network, counts[network])


def test_paper_3d_reference_encoder_has_five_levels():
    """3D Table S1: five 4x4x4 convs (64..1024) on 128x96x64 -> 1024x4x3x2, then |z^r| = 128."""
    ch = (64, 128, 256, 512, 1024)
    expected = (ladder(ch, 2, dims=3, bias=True) + 2 * sum(ch) + 5
                + linear(1024 * 4 * 3 * 2, 128))
    reference = build(ic.ReferenceModel, "paper_3d", meta=True)
    assert ic.parameter_counts(reference)["encoder"] == expected == 47_724_485
    code = build(ic.ReferenceModel, "code_3d", meta=True)   # the code's six levels: 2048 features
    assert code.encoder.features == 1024 * 2 * 1 * 1


# ------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("name", ["paper", "code", "paper_3d", "code_3d", "cpu", "cpu_3d",
                                  "smoke", "smoke_3d"])
def test_every_output_has_its_shape(name):
    """On the meta device: shapes only, at no cost, for the full-size presets too."""
    config = ic.preset(name)
    k, batch = config.n_classes, 2
    with torch.device("meta"):
        torch.manual_seed(0)
        conditional, reference = ic.ConditionalModel(config), ic.ReferenceModel(config)
        x = torch.empty(batch, 3, *config.image_shape)
        out = conditional(x)
        ref = reference(ic.reference_of(x))
        assert out.reconstruction.shape == x.shape
        assert out.class_log_probs.shape == (batch, k)
        assert out.zr_hat.shape == (batch, config.latent_reference)
        assert out.zs.shape == (batch, config.latent_structure)
        assert ref.z.shape == (batch, config.latent_reference)
        assert ref.reconstruction.shape == (batch, 2, *config.image_shape)
        assert conditional.decd(x).shape == (batch, k + 1)               # K+1-way DecD^{r,s}
        assert reference.decd(ref.reconstruction).shape == (batch, 1)    # binary DecD^r
        assert reference.encd(ref.z).shape == (batch, 1)
        assert conditional.encd(out.zs).shape == \
            (batch, 1 if config.encd_s_mode == "binary" else k + 1)


@torch.no_grad()
def test_the_3d_papers_conditional_model_runs_one_real_volume():
    """One real forward of the 3D paper's 254 M-parameter network on a 128x96x64 cell (about
    10 s on two cores, building included): finite outputs of the right shapes, probabilities
    that sum to one."""
    model = build(ic.ConditionalModel, "paper_3d").eval()
    x = torch.rand(1, 3, *ic.preset("paper_3d").image_shape, generator=torch.Generator()
                   .manual_seed(0))
    out = model(x)
    assert out.reconstruction.shape == x.shape and torch.isfinite(out.reconstruction).all()
    assert 0 <= out.reconstruction.min() and out.reconstruction.max() <= 1
    assert out.class_log_probs.exp().sum().item() == pytest.approx(1, abs=1e-5)
    assert out.zs.shape == (1, 128) and torch.isfinite(out.zs).all()


def test_sizes_retrace_the_non_power_of_two_volumes():
    """4x4 stride-2 convs floor odd sizes; the transposed convs' output padding undoes it."""
    assert feature_sizes((128, 96, 64), 6)[-2:] == [(4, 3, 2), (2, 1, 1)]
    assert output_paddings((128, 96, 64), 6) == [(0, 1, 0)] + [(0, 0, 0)] * 5
    assert feature_sizes((32, 24, 16), 4)[-1] == (2, 1, 1)
    assert output_paddings((32, 24, 16), 4) == [(0, 1, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)]
    # 20 -> 10 -> 5 -> 2 and 36 -> 18 -> 9 -> 4: the first transposed conv pads both back to odd.
    assert output_paddings((20, 36), 3) == [(1, 1), (0, 0), (0, 0)]


def test_real_3d_and_odd_2d_forward_keep_the_input_shape():
    config = ic.preset("cpu_3d")
    model = build(ic.ConditionalModel, "cpu_3d")
    x, _ = cells(config, batch=2)
    assert model(x).reconstruction.shape == (2, 3, 32, 24, 16)
    odd = build(ic.ReferenceModel, "smoke", image_shape=(20, 36))
    assert odd(torch.rand(2, 2, 20, 36)).reconstruction.shape == (2, 2, 20, 36)


def test_paper_preset_runs_on_real_images():
    model = build(ic.ConditionalModel, "paper").eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 256, 256))
        assert out.reconstruction.shape == (1, 3, 256, 256)
        assert model.decd(out.reconstruction).shape == (1, 11)
    assert 0 <= out.reconstruction.min() and out.reconstruction.max() <= 1


@pytest.mark.parametrize("name", ["smoke", "cpu_3d"])
def test_outputs_are_intensities_and_probabilities(name):
    config = ic.preset(name)
    model = build(ic.ConditionalModel, name)
    out = model(cells(config)[0])
    assert 0 <= out.reconstruction.min() and out.reconstruction.max() <= 1
    assert torch.allclose(out.class_log_probs.exp().sum(1), torch.ones(4))


def test_encoder_and_decoder_are_the_same_classes_in_2d_and_3d():
    for name, conv_type in (("smoke", torch.nn.Conv2d), ("cpu_3d", torch.nn.Conv3d)):
        model = build(ic.ConditionalModel, name, meta=True)
        assert isinstance(model.encoder, Encoder) and isinstance(model.decoder, Decoder)
        assert isinstance(model.encoder.trunk[0][0], conv_type)


def test_output_layers_and_infer():
    config = ic.preset("smoke")
    model = build(ic.ConditionalModel, "smoke")
    x, _ = cells(config)
    model.eval()
    with torch.no_grad():
        out = model(x)
        for name in ("class_log_probs", "zr_hat", "zs", "reconstruction"):
            assert torch.equal(model(x, output_layer=name), getattr(out, name))
        assert model(x, output_layer="features").shape == (4, 32 * 4 * 4)
    zs = infer(model, x.numpy(), output_layer="zs", batch_size=3)
    assert zs.shape == (4, config.latent_structure)
    reference = build(ic.ReferenceModel, "smoke")
    assert infer(reference, ic.reference_of(x).numpy(), output_layer="z").shape == (4, 8)
    with pytest.raises(ValueError, match="output_layer"):
        model(x, output_layer="z")
    with pytest.raises(ValueError, match="expected images"):
        model(ic.reference_of(x))


def test_config_rejects_impossible_shapes():
    with pytest.raises(ValueError, match="halved"):
        ic.preset("smoke", image_shape=(8, 8), channels=(8, 16, 32, 64))
    with pytest.raises(ValueError, match="conv head"):
        ic.preset("cpu_3d", decd_channels=(8, 16, 32, 64))
    ic.preset("cpu_3d", decd_channels=(8, 16, 32, 64), decd_head="linear")   # fine
    with pytest.raises(ValueError, match="class_code"):
        ic.preset("smoke", class_code="probabilities")


# ------------------------------------------------------------------ class codes and modes

def test_class_code_modes():
    for mode in ic.model.CLASS_CODES:
        model = build(ic.ConditionalModel, "smoke", class_code=mode, meta=False)
        log_probs = torch.log_softmax(torch.randn(3, 4), 1)
        labels = torch.tensor([0, 2, 3])
        code, hard = model.class_code(log_probs), model.one_hot_code(labels)
        if mode == "prob":        # the papers: y_hat as probabilities; a hard class is one-hot
            assert torch.allclose(code, log_probs.exp())
            assert torch.equal(hard, torch.eye(4)[labels])
        else:                     # the 2D code: log-probabilities; a hard class is log-one-hot
            assert torch.equal(code, log_probs)
            assert torch.equal(hard.argmax(1), labels) and hard.max() == 0
            assert hard.min() == model.config.log_one_hot_fill


def test_encd_s_and_decd_modes_set_the_discriminator_sizes():
    binary = build(ic.ConditionalModel, "smoke", meta=True)
    assert (binary.encd.n_out, binary.decd.n_out) == (1, 5)
    three_d = build(ic.ConditionalModel, "smoke", encd_s_mode="k_plus_1", decd_mode="binary",
                    meta=True)
    assert (three_d.encd.n_out, three_d.decd.n_out) == (5, 1)
    assert three_d.generated_slot == 4
    assert ic.preset("paper").encd_s_mode == "binary"
    assert ic.preset("paper_3d").encd_s_mode == "k_plus_1"


# -------------------------------------------------------------------------------- losses

def test_losses_follow_the_equations():
    torch.manual_seed(0)
    model = build(ic.ConditionalModel, "smoke", encd_s_mode="k_plus_1").eval()
    x, y = cells(model.config)
    out = model(x)
    bce = -(x * out.reconstruction.log() + (1 - x) * (1 - out.reconstruction).log()).mean()
    assert torch.allclose(ic.reconstruction_loss(out.reconstruction, x), bce, atol=1e-6)
    assert torch.allclose(ic.class_loss(out.class_log_probs, y),
                          -out.class_log_probs[torch.arange(4), y].mean())
    zr = torch.randn(4, 8)
    assert torch.allclose(ic.zr_regression_loss(out.zr_hat, zr), ((out.zr_hat - zr) ** 2).mean())

    def nll(logits, target):
        return -torch.log_softmax(logits, 1)[torch.arange(len(logits)), target].mean()

    k, prior = model.generated_slot, torch.randn(4, 8)
    gen_slot = torch.full((4,), k)
    # 3D eq. 11: the prior's samples go to slot K, the encodings to their classes.
    assert torch.allclose(ic.encd_loss(model.encd, out.zs, prior, y),
                          nll(model.encd(prior), gen_slot) + nll(model.encd(out.zs), y))
    assert torch.allclose(ic.encoder_adversarial_loss(model.encd, out.zs),
                          nll(model.encd(out.zs), gen_slot))
    # DecD: real -> class, decoded -> K; one fake batch (2D) or the mean of two (3D).
    recon, gen = out.reconstruction, torch.rand_like(x)
    real = nll(model.decd(x), y)
    assert torch.allclose(ic.decd_loss(model.decd, x, gen, y),
                          real + nll(model.decd(gen), gen_slot))
    assert torch.allclose(ic.decd_loss(model.decd, x, [recon, gen], y),
                          real + (nll(model.decd(recon), gen_slot)
                                  + nll(model.decd(gen), gen_slot)) / 2)
    permuted = y.flip(0)
    assert torch.allclose(ic.decoder_adversarial_loss(model.decd, [recon, gen], [y, permuted]),
                          nll(model.decd(recon), y) + nll(model.decd(gen), permuted))
    with pytest.raises(ValueError, match="labels"):
        ic.encd_loss(model.encd, out.zs, prior)


def test_binary_losses_use_prior_and_real_as_one():
    model = build(ic.ReferenceModel, "smoke").eval()
    z, prior = torch.randn(4, 8), torch.randn(4, 8)
    sp = torch.nn.functional.softplus      # -log sigmoid(a) = softplus(-a)
    expected = sp(-model.encd(prior)).mean() + sp(model.encd(z)).mean()
    assert torch.allclose(ic.encd_loss(model.encd, z, prior), expected)
    assert torch.allclose(ic.encoder_adversarial_loss(model.encd, z), sp(-model.encd(z)).mean())
    real, fake = torch.rand(4, 2, 32, 32), torch.rand(4, 2, 32, 32)
    assert torch.allclose(ic.decd_loss(model.decd, real, fake),
                          sp(-model.decd(real)).mean() + sp(model.decd(fake)).mean())
    assert torch.allclose(ic.decoder_adversarial_loss(model.decd, [fake, real]),
                          sp(-model.decd(fake)).mean() + sp(-model.decd(real)).mean())


def test_objectives_weight_the_adversaries_by_the_papers_gammas():
    one = torch.tensor(1.0)
    assert ic.encoder_objective(one, one).item() == pytest.approx(1 + 1e-4)
    assert ic.encoder_objective(one, one, classification=one, reference=one).item() == \
        pytest.approx(3 + 1e-4)
    assert ic.decoder_objective(one, one).item() == pytest.approx(1 + 1e-5)
    assert (ic.preset("paper").gamma_enc, ic.preset("paper_3d").gamma_dec) == (1e-4, 1e-5)


# ----------------------------------------------------------------------- gradient routing

def grads(net):
    return [p.grad for p in net.parameters()]


def untouched(net):
    return all(g is None for g in grads(net))


def reached(net):
    return any(g is not None and g.abs().sum() > 0 for g in grads(net))


def conditional_step(seed=0, **overrides):
    model = build(ic.ConditionalModel, "smoke", seed=seed, **overrides)
    x, y = cells(model.config)
    torch.manual_seed(seed)
    out = model(x)
    gen = model.decode(model.class_code(out.class_log_probs), out.zr_hat, torch.randn(4, 8))
    return model, x, y, out, gen


def test_encd_signal_reaches_only_the_encoder():
    model, x, y, out, gen = conditional_step()
    ic.routed_backward((ic.encoder_adversarial_loss(model.encd, out.zs), model.encoder))
    assert reached(model.encoder)
    assert untouched(model.decoder) and untouched(model.encd) and untouched(model.decd)


def test_decd_signal_reaches_only_the_decoder():
    model, x, y, out, gen = conditional_step()
    adversarial = ic.decoder_adversarial_loss(model.decd, [out.reconstruction, gen], y)
    ic.routed_backward((adversarial, model.decoder))
    assert reached(model.decoder)
    assert untouched(model.encoder) and untouched(model.encd) and untouched(model.decd)


def test_without_routing_decd_would_reach_the_encoder():
    """Why eqs. 15-18 need routing: DecD judges Dec(Enc(x)), so its signal flows into Enc."""
    model, x, y, out, gen = conditional_step()
    ic.decoder_adversarial_loss(model.decd, out.reconstruction, y).backward()
    assert reached(model.encoder) and reached(model.decd)


def test_discriminator_losses_train_the_discriminators_only():
    model, x, y, out, gen = conditional_step(encd_s_mode="k_plus_1")
    ic.encd_loss(model.encd, out.zs, torch.randn(4, 8), y).backward()
    ic.decd_loss(model.decd, x, [out.reconstruction, gen], y).backward()
    assert reached(model.encd) and reached(model.decd)
    assert untouched(model.encoder) and untouched(model.decoder)


def test_cheap_routing_equals_the_per_network_updates():
    """Routing L_x + L_y + L_zr + gE L_EncD to (Enc, Dec) and gD L_DecD to Dec gives the gradients
    of eq. 17 in Enc and of eq. 18 in Dec, the same as routing each objective to its network."""
    results = []
    for cheap in (False, True):
        model, x, y, out, gen = conditional_step(seed=3)
        reconstruction = ic.reconstruction_loss(out.reconstruction, x)
        encoder_terms = dict(classification=ic.class_loss(out.class_log_probs, y),
                             reference=ic.zr_regression_loss(out.zr_hat, torch.zeros(4, 8)))
        adv_enc = ic.encoder_adversarial_loss(model.encd, out.zs)
        adv_dec = ic.decoder_adversarial_loss(model.decd, [out.reconstruction, gen], y)
        gamma = 0.1   # larger than the paper's, so that a wrong routing would show
        if cheap:
            ic.routed_backward(
                (ic.encoder_objective(reconstruction, adv_enc, gamma_enc=gamma, **encoder_terms),
                 [model.encoder, model.decoder]),
                (gamma * adv_dec, model.decoder))
        else:
            ic.routed_backward(
                (ic.encoder_objective(reconstruction, adv_enc, gamma_enc=gamma, **encoder_terms),
                 model.encoder),
                (ic.decoder_objective(reconstruction, adv_dec, gamma_dec=gamma), model.decoder))
        results.append(grads(model.encoder) + grads(model.decoder))
        assert untouched(model.encd) and untouched(model.decd)
    for per_network, cheap in zip(*results):
        assert torch.allclose(per_network, cheap, atol=1e-6)


# ----------------------------------------------------------------- initialisation, seeds

@torch.no_grad()
def test_dcgan_initialisation():
    model = build(ic.ConditionalModel, "cpu")
    convs = torch.cat([m.weight.flatten() for m in model.modules()
                       if isinstance(m, torch.nn.modules.conv._ConvNd)])
    assert abs(convs.mean()) < 1e-3 and convs.std() == pytest.approx(0.02, rel=0.02)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    scales = torch.cat([m.weight for m in norms])
    assert scales.mean() == pytest.approx(1, abs=0.01) and scales.std() == \
        pytest.approx(0.02, rel=0.25)
    assert all(torch.count_nonzero(m.bias) == 0 for m in norms)
    torch_init = build(ic.ConditionalModel, "cpu", init="torch")
    assert torch_init.encoder.trunk[1][0].weight.std() > 0.03   # kaiming-uniform, not 0.02


def test_same_seed_same_model_and_outputs():
    config = ic.preset("smoke")
    x, _ = cells(config)
    outputs = []
    for _ in range(2):
        model = build(ic.ConditionalModel, "smoke", seed=7)
        torch.manual_seed(11)        # the instance noise draws from the global generator
        out = model(x)
        outputs.append((out.reconstruction, out.zs, model.decd(x)))
    for first, second in zip(*outputs):
        assert torch.equal(first, second)
    other = build(ic.ConditionalModel, "smoke", seed=8)(x).reconstruction
    assert not torch.equal(other, outputs[0][0])


def test_instance_noise_only_while_training():
    model = build(ic.ConditionalModel, "smoke", instance_noise=0.5)
    x, _ = cells(model.config)
    model.eval()
    assert torch.equal(model.decd(x), model.decd(x))
    model.train()
    assert not torch.equal(model.decd(x), model.decd(x))


# ------------------------------------------------------------------ optimisers, sampling

def test_optimizers_use_the_papers_learning_rates():
    for name, encd_lr in (("paper", 2e-4), ("paper_3d", 1e-2)):
        model = build(ic.ReferenceModel, name, meta=True)
        optimizers = ic.make_optimizers(model)
        assert set(optimizers) == {"encoder", "decoder", "encd", "decd"}
        rates = {n: o.param_groups[0]["lr"] for n, o in optimizers.items()}
        assert rates == {"encoder": 2e-4, "decoder": 2e-4, "encd": encd_lr, "decd": 2e-4}
        assert optimizers["encd"].param_groups[0]["betas"] == (0.5, 0.999)
        owned = {id(p) for p in model.encd.parameters()}
        assert {id(p) for p in optimizers["encd"].param_groups[0]["params"]} == owned


def test_integration_predicts_every_structure_for_each_cell():
    """Algorithm 3: z^r from Enc^r, one-hot class, z^s = 0; eval mode, then back to training."""
    config = ic.preset("smoke")
    reference, conditional = build(ic.ReferenceModel, "smoke"), build(ic.ConditionalModel, "smoke")
    x, _ = cells(config, batch=3)
    zr = ic.reference_latents(reference, ic.reference_of(x))
    assert reference.training and not zr.requires_grad
    predicted = ic.integrate(conditional, zr)
    assert predicted.shape == (3, 4, 3, 32, 32) and conditional.training
    assert ic.structure_of(predicted[:, 0]).shape == (3, 1, 32, 32)
    conditional.eval()
    with torch.no_grad():
        k = torch.full((3,), 2)
        assert torch.allclose(predicted[:, 2], conditional.decode(
            conditional.one_hot_code(k), zr, torch.zeros(3, 8)))
    assert not torch.allclose(predicted[:, 0], predicted[:, 1])
    assert ic.integrate(conditional, zr, classes=[1, 3]).shape == (3, 2, 3, 32, 32)


def test_generation_draws_missing_latents_from_the_prior():
    conditional = build(ic.ConditionalModel, "smoke").eval()
    labels = torch.tensor([0, 1, 2])
    first = ic.generate(conditional, labels, generator=torch.Generator().manual_seed(0))
    again = ic.generate(conditional, labels, generator=torch.Generator().manual_seed(0))
    assert first.shape == (3, 3, 32, 32) and torch.equal(first, again) and first.requires_grad
    fixed = ic.generate(conditional, labels, zr=torch.zeros(3, 8), zs=torch.zeros(3, 8))
    assert torch.allclose(fixed, ic.integrate(conditional, torch.zeros(3, 8))[[0, 1, 2], [0, 1, 2]])
    reference = build(ic.ReferenceModel, "smoke")
    assert ic.generate_reference(reference, 5).shape == (5, 2, 32, 32)
    assert ic.sample_prior(6, 8).shape == (6, 8)


def test_channel_conventions():
    x = torch.arange(3.0).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    assert ic.reference_of(x)[:, :, 0, 0].tolist() == [[0, 2], [0, 2]]
    assert ic.structure_of(x)[:, :, 0, 0].tolist() == [[1], [1]]
    assert ic.CHANNELS == ("membrane", "structure", "dna")
    assert math.prod(ic.preset("paper_3d").image_shape) == 128 * 96 * 64


# --- the output offset of the short-run presets -----------------------------------------------

@pytest.mark.parametrize("overrides", [{}, {"decoder_output_batchnorm": False, "conv_bias": True}])
def test_the_output_offset_starts_each_channel_at_its_mean_intensity(overrides):
    model = build(ic.ConditionalModel, "smoke", **overrides).eval()
    grey = model.decoder(torch.zeros(4, model.decoder.fc.in_features)).mean((0, 2, 3))
    assert torch.allclose(grey, torch.full((3,), 0.5), atol=0.05)      # sigmoid(0) at init
    means = torch.tensor([0.06, 0.04, 0.05])
    model.decoder.set_output_offset(means)
    dark = model.decoder(torch.zeros(4, model.decoder.fc.in_features)).mean((0, 2, 3))
    assert torch.allclose(dark, means, atol=0.01)


def test_the_output_offset_needs_somewhere_to_go_and_one_value_per_channel():
    no_offset = build(ic.ReferenceModel, "smoke", decoder_output_batchnorm=False)
    with pytest.raises(ValueError, match="neither a BN nor a bias"):
        no_offset.decoder.set_output_offset([0.1, 0.1])
    with pytest.raises(ValueError, match="one mean intensity per output channel"):
        build(ic.ReferenceModel, "smoke").decoder.set_output_offset([0.1, 0.1, 0.1])


def test_the_paper_presets_keep_the_sigmoid_start_and_the_short_run_presets_offset_it():
    assert not ic.preset("paper").output_offset and not ic.preset("paper_3d").output_offset
    assert ic.preset("cpu").output_offset and ic.preset("smoke").output_offset
