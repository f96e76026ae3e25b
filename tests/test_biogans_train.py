"""BioGANs' data and training: batches as the critics need them, seeded flips, every generator
trained a few iterations, and runs that resume bit for bit.

The networks are the ``smoke`` preset's (a few thousand parameters) and most data are made by
hand: cells whose green channel is one constant per class, so that whatever reaches a critic
tells which class it came from, flipped or not.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.data.imageset import ImageSet
from cellnb.papers import biogans as bg
from cellnb.papers.biogans import train as train_module

SIZE = (24, 40)
WGAN_COLUMNS = ["critic_loss", "wasserstein", "gradient_penalty", "generator_loss"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


def green_value(k: int) -> float:
    return (k + 1) / 10


def hand_made_data(n_classes: int = 2, per_class: int = 20, seed: int = 0) -> bg.BioGanData:
    """Random red channels; class k's green is the constant green_value(k) everywhere; the
    first quarter of every class is the test part."""
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    images = torch.rand(len(labels), 2, *SIZE, generator=rng) * 2 - 1
    images[:, 1] = torch.tensor([green_value(int(k)) for k in labels])[:, None, None]
    test = np.concatenate([np.arange(k * per_class, k * per_class + per_class // 4)
                           for k in range(n_classes)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    metadata = pd.DataFrame({"cell": np.arange(len(labels)), "class_id": labels.numpy()})
    return bg.BioGanData(images, labels, [f"class{k}" for k in range(n_classes)], metadata,
                         {"train": train, "test": test})


def smoke_config(kind: str, **overrides) -> bg.BioGanConfig:
    return bg.preset("smoke", generator_kind=kind, **overrides)


SETTINGS = bg.GanTrainSettings(iterations_per_epoch=10)


# --------------------------------------------------------------------------------- the data

def test_synthetic_cells_load_with_a_hashed_split_and_every_class_in_both_parts():
    sim = bg.pombe_config(bg.chapter_settings("smoke", cells_per_class=20))
    data = bg.load_cells("synthetic", sim_config=sim)
    assert data.images.shape == (40, 2, *SIZE) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert data.class_names == ["TipDots", "ActinLike"]
    assert data.labels.tolist() == [0, 1] * 20          # the simulator alternates the classes
    counts = data.class_counts()
    assert (counts["train"] > 0).all() and (counts["test"] > 0).all()
    assert sorted(np.concatenate([data.parts["train"], data.parts["test"]])) == list(range(40))
    again = bg.load_cells("synthetic", sim_config=sim)          # from the cache
    assert torch.equal(again.images, data.images) and again.fingerprint() == data.fingerprint()
    # A one-class model's data: relabelled 0, its cells and split kept.
    actin = data.select_classes(["ActinLike"])
    assert actin.class_names == ["ActinLike"] and set(actin.labels.tolist()) == {0}
    assert torch.equal(actin.part("test")[0], data.images[data.class_positions("test")[1]])


def test_lin_cells_keep_the_release_folders_as_the_split():
    metadata = pd.DataFrame({"protein": pd.Categorical(["Arp3", "Tea1", "Arp3"]),
                             "class_index": [0, 1, 0], "split": ["train", "train", "test"],
                             "cell_id": ["a", "b", "c"]})
    cells = ImageSet(np.zeros((3, 2, 48, 80), np.float32), ("red", "green"), metadata,
                     attrs={"class_names": ["Arp3", "Tea1"]})
    data = bg.lin_data(cells)
    assert data.class_names == ["Arp3", "Tea1"] and data.labels.tolist() == [0, 1, 0]
    assert data.parts["train"].tolist() == [0, 1] and data.parts["test"].tolist() == [2]


def test_class_balanced_batches_hold_b_cells_of_every_class_in_class_order():
    data = hand_made_data(n_classes=3)
    positions = bg.class_balanced_positions(data, "train", 4, torch.Generator().manual_seed(0))
    for _ in range(10):                       # several passes over the 15 cells of a class
        batch = next(positions)
        assert batch.shape == (3, 4)
        assert (data.labels[batch] == torch.arange(3)[:, None]).all()
        assert set(batch.flatten().tolist()) <= set(data.parts["train"].tolist())
    loader = bg.IterationBatches(data, iterations=7, n_critic=5, batch_size=4,
                                 class_balanced=True, generator=torch.Generator().manual_seed(0))
    items = list(loader)
    assert len(loader) == len(items) == 7
    assert all(item.shape == (5, 3, 4, 2, *SIZE) for item in items)
    greens = items[0][:, :, :, 1]                                   # (5, 3, 4, H, W)
    assert torch.equal(greens, torch.tensor([green_value(k) for k in range(3)])[
        None, :, None, None, None].expand_as(greens))
    pooled = bg.IterationBatches(data, iterations=2, n_critic=5, batch_size=8,
                                 class_balanced=False, generator=torch.Generator().manual_seed(0))
    assert next(iter(pooled)).shape == (5, 8, 2, *SIZE)


def test_a_class_with_fewer_cells_than_a_batch_is_refused():
    with pytest.raises(ValueError, match="smallest class"):
        bg.IterationBatches(hand_made_data(per_class=8), iterations=1, n_critic=1,
                            batch_size=8, class_balanced=True, generator=torch.Generator())


def test_flips_are_seeded_and_each_image_is_one_of_its_four_flips():
    images = torch.randn(400, 2, *SIZE)
    first = bg.random_flips(images, torch.Generator().manual_seed(3))
    assert torch.equal(first, bg.random_flips(images, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, bg.random_flips(images, torch.Generator().manual_seed(4)))
    flips = {(h, v): images.flip(*[d for d, on in ((-1, h), (-2, v)) if on]) if h or v
             else images for h in (False, True) for v in (False, True)}
    which = torch.stack([(first == flipped).flatten(1).all(1) for flipped in flips.values()])
    assert (which.sum(0) == 1).all()                # random images: exactly one flip matches
    shares = which.float().mean(1)                  # each of the four about a quarter
    assert ((shares > 0.17) & (shares < 0.33)).all(), shares
    # The batches of a loader are flipped from its generator, or not at all.
    data = hand_made_data()
    unflipped = next(bg.pooled_batches(data, batch_size=4, generator=torch.Generator()
                                       .manual_seed(0), flips=False))
    positions = next(bg.pooled_positions(data, "train", 4, torch.Generator().manual_seed(0)))
    assert torch.equal(unflipped, data.images[positions])


# ---------------------------------------------------------------------------- the training

@pytest.mark.parametrize("kind,critic", [("dcgan", "wgan_gp"), ("separable", "wgan_gp"),
                                         ("star", "wgan_gp"), ("separable", "gan"),
                                         ("star", "gan")])
def test_twenty_iterations_of_every_model_give_finite_losses_per_iteration(kind, critic):
    training = bg.GAN_TRAINING if critic == "gan" else {}
    config = smoke_config(kind, iterations=20, **training)
    run = bg.train_gan(config, hand_made_data(), SETTINGS, seed=0, verbose=False)
    history = run.history
    expected = WGAN_COLUMNS if critic == "wgan_gp" else ["critic_loss", "generator_loss"]
    if kind == "star" and critic == "wgan_gp":
        expected = expected + ["wasserstein_class0", "wasserstein_class1"]
    assert list(history.columns) == expected
    assert history.index.tolist() == list(range(1, 21))
    assert np.isfinite(history.to_numpy()).all()
    assert len(run.epoch_history) == 2                    # 20 iterations, epochs of 10
    assert not run.generator.training and not run.critic.training
    images = bg.sample(run.generator, config, 5, seed=1)
    channels = 1 + config.n_classes if kind == "star" else 2
    assert images.shape == (5, channels, *SIZE) and images.abs().max() <= 1


def test_each_star_critic_sees_real_cells_of_its_own_class_only():
    data = hand_made_data(n_classes=3)
    config = smoke_config("star", n_classes=3, iterations=2)
    seen = {k: [] for k in range(3)}
    original = bg.MultiCritic.forward

    def recording(self, pairs):
        for k, pair in enumerate(pairs):
            seen[k].append(pair[:, 1].detach().clone())
        return original(self, pairs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bg.MultiCritic, "forward", recording)
        bg.train_gan(config, data, bg.GanTrainSettings(iterations_per_epoch=2), verbose=False)
    for k, greens in seen.items():
        classes_seen = {j for green in greens for j in range(3)
                        if (green == green_value(j)).all()}
        assert classes_seen == {k}, f"critic {k} saw real cells of classes {classes_seen}"


def generator_calls(config, reuse_fakes: bool) -> int:
    """How many times a short run calls the separable generator."""
    original, calls = bg.SeparableGenerator.forward, []

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bg.SeparableGenerator, "forward", counting)
        bg.train_gan(config, hand_made_data(), bg.GanTrainSettings(
            iterations_per_epoch=config.iterations, reuse_fakes=reuse_fakes), verbose=False)
    return len(calls)


def test_the_generator_step_reuses_the_last_critic_steps_generated_batch_unless_told_not_to():
    config = smoke_config("separable", iterations=4)
    assert generator_calls(config, reuse_fakes=True) == 4 * config.n_critic
    assert generator_calls(config, reuse_fakes=False) == 4 * (config.n_critic + 1)


def test_sampling_is_seeded_and_train_mode_batch_norm_leaves_the_running_statistics():
    config = smoke_config("star")
    torch.manual_seed(0)
    generator = bg.build_generator(config)
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    evaluation = bg.sample(generator, config, 6, seed=2)
    assert torch.equal(evaluation, bg.sample(generator, config, 6, seed=2, batch_size=4))
    in_train_mode = bg.sample(generator, config, 6, seed=2, train_mode_batch_norm=True)
    assert not torch.allclose(evaluation, in_train_mode)
    assert all(torch.equal(value, before[name]) for name, value in
               generator.state_dict().items())
    assert generator.training                          # the mode it was in, restored


# --------------------------------------------------------------------- checkpoints and resume

def assert_same_run(resumed, straight):
    for network in ("generator", "critic"):
        a, b = getattr(resumed, network).state_dict(), getattr(straight, network).state_dict()
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), f"{network}.{name} differs"
    pd.testing.assert_frame_equal(resumed.history, straight.history, check_exact=True)


class Interrupted(Exception):
    pass


def test_a_run_interrupted_mid_epoch_and_continued_to_twice_its_length_matches_a_straight_run(
        tmp_path):
    data = hand_made_data()
    settings = bg.GanTrainSettings(iterations_per_epoch=6, checkpoint_every=4,
                                   snapshots=(0, 6, 12))
    short, long = smoke_config("star", iterations=6), smoke_config("star", iterations=12)
    straight = bg.train_gan(long, data, settings, checkpoint_dir=tmp_path / "straight",
                            verbose=False)

    original, calls = train_module.AdversarialIteration.__call__, []

    def dies_at_the_fifth(self, real):
        calls.append(1)
        if len(calls) == 5:                # after the checkpoint at iteration 4
            raise Interrupted
        return original(self, real)

    folder = tmp_path / "resumed"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module.AdversarialIteration, "__call__", dies_at_the_fifth)
        with pytest.raises(Interrupted):
            bg.train_gan(short, data, settings, checkpoint_dir=folder, verbose=False)
    first = bg.train_gan(short, data, settings, checkpoint_dir=folder, verbose=False)
    assert first.history.index.tolist() == list(range(1, 7))
    resumed = bg.train_gan(long, data, settings, checkpoint_dir=folder, verbose=False)
    assert resumed.checkpoint_path == first.checkpoint_path          # the same run, continued
    assert_same_run(resumed, straight)
    # Snapshots: files beside the checkpoint; the last is the final generator.
    assert sorted(resumed.snapshots) == [0, 6, 12]
    assert all(path.parent == folder for path in resumed.snapshots.values())
    final = resumed.snapshot(12)
    assert all(torch.equal(value, resumed.generator.state_dict()[name])
               for name, value in final.state_dict().items())
    untrained = resumed.snapshot(0).state_dict()
    assert not all(torch.equal(value, final.state_dict()[name])
                   for name, value in untrained.items())


def test_iterations_must_fill_whole_epochs():
    with pytest.raises(ValueError, match="whole number of epochs"):
        bg.train_gan(smoke_config("dcgan", iterations=15), hand_made_data(), SETTINGS,
                     verbose=False)


def test_the_profiles_define_the_same_settings_and_build_matching_configs():
    smoke = bg.chapter_settings("smoke")
    config = bg.model_config(smoke, "star")
    assert config.n_classes == len(smoke.classes) and config.iterations == smoke.iterations
    gan = bg.model_config(smoke, "separable", algorithm="gan")
    assert (gan.critic_kind, gan.n_critic, gan.lr) == ("gan", 1, 2e-4)
    assert gan.iterations == smoke.gan_iterations
    assert tuple(bg.pombe_config(smoke).size) == config.image_size
    for profile in ("smoke", "cpu", "gpu"):
        settings = bg.chapter_settings(profile)
        train = bg.train_settings(settings)
        for algorithm in ("wgan_gp", "gan"):
            config = bg.model_config(settings, algorithm=algorithm)
            assert train_module.epochs_of(config, train) >= 1
            assert max(settings.snapshots) <= config.iterations
