"""The cytoself model: wiring of the two levels, the layer exits, the presets and the loss."""
import pytest
import torch

from cellnb.papers.cytoself.model import (
    EXITS,
    Cytoself,
    LossWeights,
    cytoself_loss,
    parameter_counts,
    preset,
)


@pytest.fixture(scope="module")
def smoke_model():
    torch.manual_seed(0)
    return Cytoself(preset("smoke", n_classes=5)).eval()


def _images(config, n=3):
    return torch.rand(n, config.in_channels, config.input_size, config.input_size)


def test_encoder2_reads_the_unquantised_encoder1_output(smoke_model):
    seen = {}
    handle = smoke_model.encoder2.register_forward_hook(lambda m, inputs, out: seen.update(x=inputs[0]))
    x = _images(smoke_model.config)
    with torch.no_grad():
        out = smoke_model(x)
    handle.remove()
    assert torch.equal(seen["x"], out.z1)
    assert not torch.equal(out.z1, out.local.vectors)


def test_decoder1_reads_local_codes_and_the_resized_global_codes(smoke_model):
    c = smoke_model.config
    assert smoke_model.decoder1.entry[0].in_channels == c.local_dim + c.global_dim * c.global_splits
    x = _images(c)
    with torch.no_grad():
        out = smoke_model(x)
        again = smoke_model.decode(out.local.vectors, out.global_.vectors)
    assert out.reconstruction.shape == x.shape
    assert torch.equal(again, out.reconstruction)


@pytest.mark.parametrize("name", EXITS)
def test_every_layer_exit_returns_its_tensor(smoke_model, name):
    c = smoke_model.config
    x = _images(c, n=2)
    with torch.no_grad():
        value = smoke_model(x, output_layer=name)
    local, global_ = (2, c.local_size, c.local_size), (2, c.global_size, c.global_size)
    expected = {
        "encoder1": (2, c.local_dim) + local[1:], "vqvec1": (2, c.local_dim) + local[1:],
        "vqind1": (2, 1) + local[1:], "vqindhist1": (2, c.local_codes),
        "encoder2": (2, c.global_channels) + global_[1:], "vqvec2": (2, c.global_channels) + global_[1:],
        "vqind2": (2, c.global_splits) + global_[1:], "vqindhist2": (2, c.global_codes),
        "fc1": (2, 5), "fc2": (2, 5), "decoder2": (2, c.local_dim) + local[1:],
        "decoder1": tuple(x.shape)}[name]
    assert tuple(value.shape) == expected
    if name == "vqindhist1":
        assert torch.equal(value.sum(1), torch.full((2,), float(c.local_size ** 2)))
    if name == "vqindhist2":
        assert torch.equal(value.sum(1), torch.full((2,), float(c.global_size ** 2 * c.global_splits)))


def test_eval_mode_is_deterministic_and_inputs_are_checked(smoke_model):
    x = _images(smoke_model.config)
    with torch.no_grad():
        assert torch.equal(smoke_model(x, output_layer="fc2"), smoke_model(x, output_layer="fc2"))
    with pytest.raises(ValueError, match=r"expected images \(B, 2, 32, 32\)"):
        smoke_model(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown output_layer"):
        smoke_model(x, output_layer="vqvec3")


def test_paper_preset_has_the_papers_shapes_and_head_sizes():
    config = preset("paper")
    assert (config.local_size, config.global_size, config.global_channels) == (25, 4, 576)
    model = Cytoself(config)
    counts = parameter_counts(model)
    # fc1 flattens 25*25*64 = 40,000 inputs, fc2 4*4*576 = 9,216: ~41 M and ~10.5 M parameters.
    assert counts["fc1"] == 40_000 * 1000 + 1000 + 1000 * 1311 + 1311
    assert counts["fc2"] == 9_216 * 1000 + 1000 + 1000 * 1311 + 1311
    assert counts["vq1"] == counts["vq2"] == 2048 * 64
    with torch.no_grad():
        out = model.eval()(torch.rand(1, 2, 100, 100))
    assert out.reconstruction.shape == (1, 2, 100, 100)
    assert out.global_.indices.shape == (1, 9, 4, 4)


def test_loss_is_the_weighted_sum_of_its_terms_and_a_zero_weight_removes_a_term(smoke_model):
    x = _images(smoke_model.config, n=4)
    labels = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        out = smoke_model(x)
    total, terms = cytoself_loss(out, x, labels, image_variance=0.5)
    assert set(terms) == {"reconstruction1", "reconstruction2", "vq1", "vq2", "fc1_ce", "fc2_ce"}
    assert torch.allclose(total, sum(terms.values()))
    assert torch.allclose(terms["reconstruction1"],
                          ((out.reconstruction - x) ** 2).mean() / 0.5)
    no_id, _ = cytoself_loss(out, x, labels, image_variance=0.5, weights=LossWeights(identification=0))
    assert torch.allclose(no_id, total - terms["fc1_ce"] - terms["fc2_ce"])



def test_decoder2_is_trained_towards_the_target_the_model_config_names():
    """The paper's (and the default) target is the unquantised z1; the port's is q1. The loss
    reads it from the model's output, so a model built with one cannot be trained on the other."""
    torch.manual_seed(0)
    paper = Cytoself(preset("smoke", n_classes=5)).eval()
    assert paper.config.decoder2_target == "z1"
    x, labels = _images(paper.config, n=4), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        out = paper(x)
    _, terms = cytoself_loss(out, x, labels, image_variance=0.5)
    assert torch.allclose(terms["reconstruction2"], ((out.z1_hat - out.z1) ** 2).mean())
    assert not torch.allclose(out.z1, out.local.vectors)     # so the two targets differ
    port = Cytoself(preset("smoke", n_classes=5, decoder2_target="q1")).eval()
    port.load_state_dict(paper.state_dict())
    with torch.no_grad():
        out = port(x)
    _, terms = cytoself_loss(out, x, labels, image_variance=0.5)
    assert torch.allclose(terms["reconstruction2"], ((out.z1_hat - out.local.vectors) ** 2).mean())


@pytest.mark.parametrize("variant", ["no_id_task", "no_split", "no_vq", "no_decoder",
                                     "no_nuclear_channel"])
def test_ablations_build_train_and_drop_what_they_name(variant):
    torch.manual_seed(0)
    config = preset("smoke", n_classes=5).ablate(variant)
    model = Cytoself(config)
    x = _images(config, n=4)
    out = model(x)
    total, terms = cytoself_loss(out, x, torch.arange(4), image_variance=1.0)
    total.backward()
    dropped = {"no_id_task": {"fc1_ce", "fc2_ce"}, "no_decoder": {"reconstruction1", "reconstruction2"},
               "no_split": set(), "no_vq": set(), "no_nuclear_channel": set()}[variant]
    assert not dropped & set(terms)
    if variant == "no_split":
        assert out.global_.indices.shape[1] == 1 and model.vq2.dim == config.global_channels
    if variant == "no_vq":
        assert torch.equal(out.local.vectors, out.z1) and out.local.indices is None
        with pytest.raises(ValueError, match="no_vq"):
            model(x, output_layer="vqind1")
    assert model.encoder1[0][0].weight.grad is not None


def test_the_paper_preset_takes_a_training_step():
    torch.manual_seed(0)
    model = Cytoself(preset("paper", n_classes=10))
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-4)
    x = torch.rand(2, 2, 100, 100)
    before = model.encoder1[0][0].weight.detach().clone()
    total, terms = cytoself_loss(model(x), x, torch.tensor([1, 7]), image_variance=float(x.var()))
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert torch.isfinite(total) and set(terms) >= {"fc1_ce", "fc2_ce", "vq2"}
    assert not torch.equal(before, model.encoder1[0][0].weight)


def test_the_model_traces_as_one_graph_for_torch_compile():
    """torch.compile (the GPU profile's option) failed on the whole model while the code counts
    used bincount, whose output length depends on the data: every use broke the graph."""
    config = preset("smoke", n_classes=5)
    torch.manual_seed(0)
    explanation = torch._dynamo.explain(Cytoself(config))(
        torch.rand(2, config.in_channels, config.input_size, config.input_size))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
