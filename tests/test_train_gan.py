"""Adversarial training on the Trainer: a WGAN-GP learns a known Gaussian and resumes exactly.

The recipe is Gulrajani et al. 2017 (Improved Training of Wasserstein GANs), Algorithm 1:
``n_critic = 5`` critic updates per generator update, a gradient penalty of weight ``lambda = 10``
on points between real and generated samples (eq. 3), and Adam with betas (0, 0.9). The target is
N(mu, diag(sigma^2)) in 2-D with mu and sigma chosen here, and the generator is affine,
G(z) = A z + b of Gaussian noise z, which makes exactly N(b, A A^T): the answer is known, so the
test checks the generated mean and standard deviation against it.

How the pieces map onto the Trainer: one ``step(batch)`` is one generator iteration. The loader's
batch holds the n_critic real minibatches of that iteration's critic updates, so a checkpoint never
falls between them; the noise z and the interpolation weights come from a torch.Generator
registered with the Trainer. Each network has its own Adam and its own learning-rate schedule,
which the step advances once per iteration and the Trainer saves: the generator's holds, then
decays linearly to zero (LambdaLR), and the critic's halves every 300 iterations (StepLR).

Three choices come from trial runs. The target is 2-D because in our 1-D trials the penalty trapped
the critic at slope -1 (scoring generated samples above real ones): turning to +1 means passing
slope 0, where the penalty is lambda. The critic uses LeakyReLU because ReLU critics died in some
trials (every unit off: zero gradient, a penalty of exactly 1). The learning rates are 20 (critic)
and 100 (generator) times the paper's 1e-4, so that 600 iterations suffice. A GAN circles its
equilibrium rather than settling, so the generator's rate decays to zero at the end; the critic's
halves only once in the run, as halving it every 240 iterations let the generator circle more widely.

This file is also the script the SIGKILL test runs in a subprocess:

    python tests/test_train_gan.py CHECKPOINT RESULT [PAUSE_BEFORE_STEP MARKER]
"""
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from killing import kill_when_marked
from torch import nn

from cellnb.train import Trainer, read_checkpoint
from cellnb.train.resume import EpochInProgress

TARGET_MEAN, TARGET_STD = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.5])
N_CRITIC, BATCH_SIZE, GP_WEIGHT, NOISE_DIM = 5, 128, 10.0, 2
CRITIC_LR, GENERATOR_LR, ADAM_BETAS = 2e-3, 1e-2, (0.0, 0.9)
CRITIC_LR_HALVES_EVERY = 300
EPOCHS, STEPS_PER_EPOCH, CHECKPOINT_EVERY = 10, 60, 25
STEPS = EPOCHS * STEPS_PER_EPOCH   # generator iterations: 600
# The seeded run's largest errors are 0.11 (mean) and 0.03 (std); across eight seeds of the
# networks' initialisation, 0.19 and 0.13. The untrained generator's are 2.3 and 0.6.
MEAN_TOLERANCE, STD_TOLERANCE = 0.3, 0.2


def build_networks():
    torch.manual_seed(0)
    generator = nn.Linear(NOISE_DIM, 2)
    critic = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2),
                           nn.Linear(32, 1))
    return generator, critic


def generator_lr_factor(iteration: int) -> float:
    """1 for the first half of the run, then down linearly to 0 at its end."""
    return min(1.0, 2 * (1 - iteration / STEPS))


def gradient_penalty(critic, real, fake, noise: torch.Generator):
    """Gulrajani et al. eq. 3: (||grad D(x_hat)|| - 1)^2 at random points between real and fake."""
    weight = torch.rand(len(real), 1, generator=noise)
    between = (weight * real + (1 - weight) * fake).requires_grad_(True)
    # create_graph: the penalty is trained through, so its gradient needs a graph of its own.
    gradient, = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    return (gradient.norm(dim=1) - 1).pow(2).mean()


def generated_moments(generator, samples: int = 10_000):
    """The mean and standard deviation per coordinate of the generated distribution."""
    noise = torch.Generator().manual_seed(9)   # its own: measuring must not move the run's draws
    with torch.no_grad():
        fake = generator(torch.randn(samples, NOISE_DIM, generator=noise))
    return fake.mean(dim=0), fake.std(dim=0)


def train(checkpoint_path, *, pause_before_step=None, marker=None):
    """One run from a fresh start or from the checkpoint: final states, history and steps run."""
    real = TARGET_MEAN + TARGET_STD * torch.randn(STEPS_PER_EPOCH * N_CRITIC * BATCH_SIZE, 2,
                                                  generator=torch.Generator().manual_seed(1))
    loader = torch.utils.data.DataLoader(real, batch_size=N_CRITIC * BATCH_SIZE, shuffle=True,
                                         generator=torch.Generator().manual_seed(3))
    generator, critic = build_networks()
    optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=GENERATOR_LR, betas=ADAM_BETAS),
                  "critic": torch.optim.Adam(critic.parameters(), lr=CRITIC_LR, betas=ADAM_BETAS)}
    schedulers = {
        "generator": torch.optim.lr_scheduler.LambdaLR(optimizers["generator"], generator_lr_factor),
        "critic": torch.optim.lr_scheduler.StepLR(optimizers["critic"], step_size=CRITIC_LR_HALVES_EVERY,
                                                  gamma=0.5),
    }
    noise = torch.Generator().manual_seed(4)
    config = {"n_critic": N_CRITIC, "batch_size": BATCH_SIZE, "gp_weight": GP_WEIGHT,
              "critic_lr": CRITIC_LR, "generator_lr": GENERATOR_LR}
    trainer = Trainer({"generator": generator, "critic": critic}, optimizers, schedulers=schedulers,
                      generators={"noise": noise}, checkpoint_path=checkpoint_path,
                      checkpoint_every=CHECKPOINT_EVERY, config=config, seed=0, verbose=False)
    steps_run = 0

    def step(batch):   # Algorithm 1, one generator iteration
        nonlocal steps_run
        if trainer.global_step == pause_before_step:   # the SIGKILL test kills us here
            Path(marker).touch()
            time.sleep(600)
        critic_terms = []
        for real_batch in batch.chunk(N_CRITIC):
            with torch.no_grad():
                fake = generator(torch.randn(len(real_batch), NOISE_DIM, generator=noise))
            wasserstein = critic(real_batch).mean() - critic(fake).mean()
            penalty = gradient_penalty(critic, real_batch, fake, noise)
            critic_loss = -wasserstein + GP_WEIGHT * penalty
            optimizers["critic"].zero_grad()   # also drops what the generator's loss left here
            critic_loss.backward()
            optimizers["critic"].step()
            critic_terms.append(torch.stack([critic_loss, wasserstein, penalty]).detach())
        fake = generator(torch.randn(BATCH_SIZE, NOISE_DIM, generator=noise))
        generator_loss = -critic(fake).mean()
        optimizers["generator"].zero_grad()
        generator_loss.backward()
        optimizers["generator"].step()
        for scheduler in schedulers.values():
            scheduler.step()
        steps_run += 1
        critic_loss, wasserstein, penalty = torch.stack(critic_terms).mean(dim=0).tolist()
        return {"critic_loss": critic_loss, "wasserstein": wasserstein, "gradient_penalty": penalty,
                "generator_loss": generator_loss.item()}

    def validate():
        mean, std = generated_moments(generator)
        return {"mean_error": (mean - TARGET_MEAN).abs().max(), "std_error": (std - TARGET_STD).abs().max()}

    history = trainer.fit(step, loader, epochs=EPOCHS, validate=validate)
    return {"generator": generator.state_dict(), "critic": critic.state_dict(),
            "optimizers": {name: o.state_dict() for name, o in optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
            "last_lr": {name: s.get_last_lr() for name, s in schedulers.items()},
            "moments": generated_moments(generator), "history": history.drop(columns="seconds"),
            "steps_run": steps_run}


def assert_identical(resumed, straight, where="run"):
    """Bit-identical tensors and equal numbers, everywhere in two nested results."""
    if isinstance(straight, torch.Tensor):
        assert torch.equal(resumed, straight), f"{where} differs"
    elif isinstance(straight, pd.DataFrame):
        assert resumed.equals(straight), f"{where} differs"
    elif isinstance(straight, dict):
        assert resumed.keys() == straight.keys(), f"{where} has other keys"
        for key, value in straight.items():
            assert_identical(resumed[key], value, f"{where}.{key}")
    elif isinstance(straight, (list, tuple)):
        assert len(resumed) == len(straight), f"{where} has another length"
        for index, value in enumerate(straight):
            assert_identical(resumed[index], value, f"{where}[{index}]")
    else:
        assert resumed == straight, f"{where}: {resumed!r} != {straight!r}"


@pytest.fixture(scope="module")
def one_thread():
    """Same thread count as the subprocess, so that reductions add in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, one_thread):
    return train(tmp_path_factory.mktemp("gan") / "straight.pt")


def test_the_trained_generator_matches_the_target_that_the_untrained_one_misses(straight_run):
    untrained_mean, untrained_std = generated_moments(build_networks()[0])
    assert (untrained_mean - TARGET_MEAN).abs().max() > 5 * MEAN_TOLERANCE
    assert (untrained_std - TARGET_STD).abs().max() > 2 * STD_TOLERANCE
    mean, std = straight_run["moments"]
    assert (mean - TARGET_MEAN).abs().max() < MEAN_TOLERANCE, f"mean {mean} vs {TARGET_MEAN}"
    assert (std - TARGET_STD).abs().max() < STD_TOLERANCE, f"std {std} vs {TARGET_STD}"


def test_the_history_has_both_networks_terms_and_the_rate_each_epoch_started_with(straight_run):
    history = straight_run["history"]
    assert list(history.columns) == [
        "train_critic_loss", "train_wasserstein", "train_gradient_penalty", "train_generator_loss",
        "val_mean_error", "val_std_error", "lr_generator", "lr_critic"]
    assert not history.isna().any().any()
    # The generator closes in on the target until the critic can no longer tell them apart.
    assert history["val_mean_error"].iloc[-1] < history["val_mean_error"].iloc[0] / 5
    assert abs(history["train_wasserstein"].iloc[-1]) < 0.3
    assert (history["train_gradient_penalty"] > 0).all()
    # Each epoch records the rates its first step used. The critic's halves as iteration 300, the
    # last of epoch 5, advances its schedule: epoch 5 trained at the full rate, so the drop shows
    # from epoch 6 (a rate read at the epoch's end would show it at epoch 5).
    first_steps = [STEPS_PER_EPOCH * epoch for epoch in range(EPOCHS)]
    assert history["lr_critic"].tolist() == pytest.approx(
        [CRITIC_LR * 0.5 ** (step // CRITIC_LR_HALVES_EVERY) for step in first_steps])
    assert history["lr_generator"].tolist() == pytest.approx(
        [GENERATOR_LR * generator_lr_factor(step) for step in first_steps])


def test_a_gan_killed_with_sigkill_resumes_to_the_same_networks_optimisers_and_schedules(
        tmp_path, straight_run):
    path, marker, result = tmp_path / "killed.pt", tmp_path / "paused", tmp_path / "result.pt"
    script = [sys.executable, __file__, str(path), str(result)]
    kill_when_marked([*script, "260", str(marker)], marker, what="step 260")
    # The last checkpoint came after iteration 250: 4 epochs and 10 batches of the fifth, before
    # the critic's rate halves and the generator's starts to fall, so both schedules must resume.
    checkpoint = read_checkpoint(path)
    assert (checkpoint["global_step"], checkpoint["epoch"]) == (250, 4) and not result.exists()
    assert checkpoint["epoch_in_progress"]["batches"] == 10

    subprocess.run(script, check=True, timeout=120)
    resumed = torch.load(result, weights_only=False)
    assert resumed.pop("steps_run") == STEPS - 250, "the resumed run must not start over"
    assert_identical(resumed, {key: value for key, value in straight_run.items() if key != "steps_run"})
    assert resumed["last_lr"]["critic"] == [CRITIC_LR / 4]   # halved after iterations 300 and 600


def test_an_epoch_resumed_from_a_checkpoint_without_learning_rates_records_the_current_ones():
    # Checkpoints written before the history took the rates at the epoch's start lack them.
    epoch = EpochInProgress()
    next(epoch.start([1, 2, 3], {}, {"adam": 0.1}))
    epoch.batches = 1
    state = epoch.state_dict()
    assert state["learning_rates"] == {"adam": 0.1}
    del state["learning_rates"]
    resumed = EpochInProgress()
    resumed.load_state_dict(state)
    assert list(resumed.start([1, 2, 3], {}, {"adam": 0.05})) == [2, 3]
    assert resumed.learning_rates == {"adam": 0.05}


if __name__ == "__main__":
    torch.set_num_threads(1)
    checkpoint, result, *pause = sys.argv[1:]
    outcome = train(checkpoint, pause_before_step=int(pause[0]) if pause else None,
                    marker=pause[1] if pause else None)
    torch.save(outcome, result)
