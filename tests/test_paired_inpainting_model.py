"""The paired-cell-inpainting model: parameter counts of the paper's models, shapes, the feature
read-out, the wiring of the two encoders, the BN-order flag, input checks and a few training steps."""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cellnb.nn import infer
from cellnb.papers.paired_inpainting.model import (
    EXITS,
    LAYERS,
    PRESETS,
    InpaintingConfig,
    PairedInpainting,
    inpainting_loss,
    make_optimizer,
    parameter_counts,
    preset,
)


def _model(name="smoke", seed=0, **overrides):
    torch.manual_seed(seed)
    return PairedInpainting(preset(name, **overrides))


def _pair(config, n=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    s = config.crop_size
    return (torch.rand(n, config.source_channels, s, s, generator=g),
            torch.rand(n, config.target_marker_channels, s, s, generator=g))


@pytest.fixture(scope="module")
def smoke_model():
    return _model("smoke").eval()


# ----------------------------------------------------------------------- parameter counts

def test_the_yeast_model_has_the_papers_7320609_parameters():
    counts = parameter_counts(_model("paper"))
    assert counts["total"] == 7_320_609
    assert counts == {"source_encoder": 3_323_616, "target_encoder": 14_208,
                      "decoder": 3_982_785, "total": 7_320_609}


def test_the_human_model_has_7321617_parameters():
    # One more source channel (864 weights in conv1) and one more marker (144 in the target's conv1).
    config = preset("paper_human")
    assert (config.source_channels, config.target_marker_channels) == (3, 2)
    assert parameter_counts(PairedInpainting(config))["total"] == 7_321_617


def test_the_cpu_preset_shrinks_widths_and_crop_but_keeps_the_wiring():
    config = preset("cpu")
    assert config.crop_size == 32 and config.bottleneck_size == 8
    assert config.source_channels_per_layer == (24, 64, 96, 96, 64)
    assert config.target_widths == (16, 32, 32)
    assert config.decoder_channels_per_layer == (32, 48, 48, 32, 12)   # cut harder than the encoder
    assert parameter_counts(PairedInpainting(config))["total"] < 500_000


def test_batch_norm_matches_keras_defaults():
    bns = [m for m in _model("smoke").modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 5 + 3                      # every encoder conv, none in the decoder
    assert all(bn.eps == 1e-3 and bn.momentum == 0.01 for bn in bns)


def test_glorot_init_zeroes_conv_biases_and_torch_init_does_not():
    glorot = [m.bias for m in _model("smoke").modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(torch.all(b == 0) for b in glorot)
    default = [m.bias for m in _model("smoke", init="torch").modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(torch.any(b != 0) for b in default)


# ---------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_prediction_is_one_protein_channel_at_crop_size(name):
    model = _model(name).eval()
    source, marker = _pair(model.config, n=2)
    with torch.no_grad():
        prediction = model(source, marker)
    s = model.config.crop_size
    assert prediction.shape == (2, 1, s, s)
    with torch.no_grad():
        encoding = model(source, output_layer="source_encoding")
    assert encoding.shape == (2, model.config.source_channels_per_layer[-1], s // 4, s // 4)


def test_feature_dimensions_per_layer_at_width_1():
    model = _model("paper").eval()
    source, _ = _pair(model.config, n=2)
    with torch.no_grad():
        dims = {name: model.features(source, name).shape for name in LAYERS}
    assert dims == {"conv1": (2, 96), "conv2": (2, 256), "conv3": (2, 384), "conv4": (2, 384),
                    "conv5": (2, 256)}


def test_feature_dimensions_scale_with_the_width_multiplier():
    model = _model("cpu").eval()
    source, _ = _pair(model.config, n=2)
    with torch.no_grad():
        dims = [model(source, output_layer=name).shape[1] for name in LAYERS]
        maps = [model(source, output_layer=f"{name}_map").shape[1:] for name in LAYERS]
    assert dims == [24, 64, 96, 96, 64]
    assert maps == [(24, 32, 32), (64, 16, 16), (96, 8, 8), (96, 8, 8), (64, 8, 8)]


def test_infer_reads_features_without_a_target_cell(smoke_model):
    source, _ = _pair(smoke_model.config, n=5)
    features = infer(smoke_model, source.numpy(), output_layer="conv3", batch_size=2)
    assert features.shape == (5, smoke_model.config.source_channels_per_layer[2])
    with torch.no_grad():
        np.testing.assert_allclose(features, smoke_model.features(source, "conv3").numpy(), atol=1e-6)


# ---------------------------------------------------------------------- the feature read-out

def _with_nontrivial_batch_norm(model):
    """Random running statistics and affine parameters, so that BN visibly changes activations."""
    g = torch.Generator().manual_seed(5)
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=g))
            bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            bn.weight.data.copy_(torch.randn(n, generator=g))
            bn.bias.data.copy_(torch.randn(n, generator=g))
    return model.eval()


def test_features_are_post_relu_and_non_negative(smoke_model):
    source, _ = _pair(smoke_model.config)
    with torch.no_grad():
        for name in LAYERS:
            assert (smoke_model.features(source, name) >= 0).all()


def test_conv1_features_are_the_spatial_max_of_relu_conv_before_batch_norm():
    model = _with_nontrivial_batch_norm(_model("smoke"))
    source, _ = _pair(model.config)
    block = model.source_encoder.layers["conv1"]
    with torch.no_grad():
        by_hand = F.relu(block.conv(source)).amax(dim=(2, 3))
        after_bn = block.bn(F.relu(block.conv(source))).amax(dim=(2, 3))
        features = model.features(source, "conv1")
    torch.testing.assert_close(features, by_hand)
    assert not torch.allclose(features, after_bn)     # the tap is before BN


def test_conv2_features_read_conv2_on_the_pooled_normalised_conv1_output():
    model = _with_nontrivial_batch_norm(_model("smoke"))
    source, _ = _pair(model.config)
    conv1, conv2 = model.source_encoder.layers["conv1"], model.source_encoder.layers["conv2"]
    with torch.no_grad():
        x = F.max_pool2d(conv1.bn(F.relu(conv1.conv(source))), 2)
        by_hand = F.relu(conv2.conv(x)).amax(dim=(2, 3))
        torch.testing.assert_close(model.features(source, "conv2"), by_hand)


# ---------------------------------------------------------------------------------- wiring

def test_the_target_marker_changes_the_prediction(smoke_model):
    source, marker = _pair(smoke_model.config)
    _, other_marker = _pair(smoke_model.config, seed=2)
    with torch.no_grad():
        assert not torch.allclose(smoke_model(source, marker), smoke_model(source, other_marker))


def test_the_source_protein_channel_changes_the_prediction(smoke_model):
    source, marker = _pair(smoke_model.config)
    other = source.clone()
    other[:, 0] = torch.rand_like(other[:, 0])       # channel 0 is the protein
    with torch.no_grad():
        assert not torch.allclose(smoke_model(source, marker), smoke_model(other, marker))


def test_features_do_not_depend_on_the_target(smoke_model):
    source, marker = _pair(smoke_model.config)
    with torch.no_grad():
        torch.testing.assert_close(smoke_model(source, marker, output_layer="conv4"),
                                   smoke_model.features(source, "conv4"))


def test_bn_order_flag_changes_the_module_order():
    authors = _model("smoke")
    alternative = _model("smoke", bn_after_relu=False)
    for model, order in ((authors, ["conv", "relu", "bn"]), (alternative, ["conv", "bn", "relu"])):
        assert [list(model.source_encoder.layers[name]._modules) for name in LAYERS] == [order] * 5
        assert list(model.target_encoder.conv1._modules) == order
        assert list(model.decoder.conv6._modules) == ["conv", "relu"]      # no BN in the decoder
    # Same parameters either way; only the order of the operations differs.
    assert parameter_counts(authors) == parameter_counts(alternative)


def test_decoder_upsamples_by_nearest_neighbour():
    ups = [m for m in _model("smoke").decoder if isinstance(m, torch.nn.Upsample)]
    assert [(u.scale_factor, u.mode) for u in ups] == [(2.0, "nearest")] * 2


# ------------------------------------------------------------------------------ input checks

def test_wrong_source_shape_names_the_expected_shape(smoke_model):
    s = smoke_model.config.crop_size
    with pytest.raises(ValueError, match=rf"expected source .*\(B, 2, {s}, {s}\), got \(3, 3, {s}, {s}\)"):
        smoke_model(torch.rand(3, 3, s, s), torch.rand(3, 1, s, s))
    with pytest.raises(ValueError, match=rf"\(B, 2, {s}, {s}\)"):
        smoke_model.features(torch.rand(3, 2, s + 4, s + 4), "conv1")


def test_wrong_target_marker_shape_names_the_expected_shape(smoke_model):
    s = smoke_model.config.crop_size
    with pytest.raises(ValueError, match=rf"expected target marker images \(B, 1, {s}, {s}\)"):
        smoke_model(torch.rand(3, 2, s, s), torch.rand(3, 2, s, s))
    with pytest.raises(ValueError, match="batches of 3 and 2"):
        smoke_model(torch.rand(3, 2, s, s), torch.rand(2, 1, s, s))


def test_prediction_without_target_marker_says_what_to_pass(smoke_model):
    s = smoke_model.config.crop_size
    with pytest.raises(ValueError, match="target_marker"):
        smoke_model(torch.rand(3, 2, s, s))


def test_unknown_exit_lists_the_choices(smoke_model):
    s = smoke_model.config.crop_size
    with pytest.raises(ValueError, match="choose from"):
        smoke_model(torch.rand(1, 2, s, s), output_layer="conv6")
    assert set(LAYERS) < set(EXITS)


def test_bad_configs_and_presets_are_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        InpaintingConfig(crop_size=30)
    with pytest.raises(ValueError, match="init"):
        InpaintingConfig(init="he")
    with pytest.raises(KeyError, match="choose from"):
        preset("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset("smoke").width = 2.0


def test_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        inpainting_loss(torch.zeros(2, 1, 8, 8), torch.zeros(2, 2, 8, 8))


# -------------------------------------------------------------------------------- training

def test_loss_is_pixelwise_mse():
    a, b = torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 3.0)
    assert inpainting_loss(a, b).item() == pytest.approx(9.0)


def test_optimizer_is_adam_with_beta1_one_half():
    optimizer = make_optimizer(_model("smoke"))
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.Adam)
    assert group["lr"] == 1e-4 and group["betas"] == (0.5, 0.999)


def test_a_few_adam_steps_reduce_the_mse_on_a_fixed_batch():
    model = _model("smoke").train()
    source, marker = _pair(model.config, n=8)
    target = torch.rand(8, 1, model.config.crop_size, model.config.crop_size,
                        generator=torch.Generator().manual_seed(3))
    optimizer = make_optimizer(model, lr=1e-3)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = inpainting_loss(model(source, marker), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
