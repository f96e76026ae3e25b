"""The classifier two-sample test of Section 5.1 as a ruler, on SynthPombe cells at 24 x 40.

The paper's protocol trains each critic for 5000 steps at Adam 1e-4; these tests give a small
critic (ndf 8) 150 steps at 1e-3, enough for the ruler's order: a class against itself scores
about 0, a designed twin (TipDots2 against TipDots, Tea4 against Tea1 in Table 1) scores
above that but far below a class that looks nothing alike (RingOnly), and noise scores high.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers import biogans as bg
from cellnb.sim.pombe import CPU_SIZE, PombeConfig, generate_pombe_cells

CLASSES = ("TipDots", "TipDots2", "RingOnly")
RULER = dict(steps=150, splits=2, batch=16, ndf=8, lr=1e-3, passes=3, progress=False)
QUICK = dict(steps=30, splits=1, batch=16, ndf=8, lr=1e-3, passes=1, progress=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


def images_by_class(seed: int, per_class: int = 160) -> dict[str, torch.Tensor]:
    data = generate_pombe_cells(PombeConfig(seed=seed, n_cells=per_class * len(CLASSES),
                                            size=CPU_SIZE, classes=CLASSES), progress=False)
    return {name: torch.from_numpy(data.images[(data.metadata.class_name == name).to_numpy()])
            for name in CLASSES}


@pytest.fixture(scope="module")
def train():
    return images_by_class(seed=0)


@pytest.fixture(scope="module")
def test():
    return images_by_class(seed=1)


def noise(n: int) -> torch.Tensor:
    return torch.rand(n, 2, *CPU_SIZE) * 2 - 1


@pytest.fixture(scope="module")
def ruler(train, test):
    """Scores of TipDots2's test images against three classes' training images."""
    return {name: bg.c2st_score(test["TipDots2"], train[name], **RULER) for name in CLASSES}


def test_a_class_against_itself_scores_about_zero(ruler):
    assert np.abs(ruler["TipDots2"].score).max() < 0.3


def test_different_classes_score_clearly_higher(ruler):
    assert ruler["RingOnly"].score.min() > 5.0


def test_the_designed_twin_sits_between_itself_and_a_different_class(ruler):
    same, twin, other = (ruler[name].summary()["mean"]
                         for name in ("TipDots2", "TipDots", "RingOnly"))
    assert same + 0.2 < twin < other / 5


def test_real_images_drawn_again_score_about_zero_and_noise_high(test):
    real = test["TipDots"]
    pool = torch.Generator().manual_seed(5)
    redrawn = bg.c2st_score(real, lambda n: real[torch.randint(len(real), (n,),
                                                                 generator=pool)], **RULER)
    assert np.abs(redrawn.score).max() < 0.3
    assert bg.c2st_score(real, noise, **QUICK).score[0] > 5.0


def test_scores_are_reproducible_under_a_seed_and_leave_the_global_stream_alone(test):
    state = torch.get_rng_state()
    first = bg.c2st_score(test["TipDots"], noise, **QUICK, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    again = bg.c2st_score(test["TipDots"], noise, **QUICK, seed=3)
    other = bg.c2st_score(test["TipDots"], noise, **QUICK, seed=4)
    np.testing.assert_array_equal(first.score, again.score)
    assert first.score[0] != other.score[0]


def test_result_parts_and_both_summaries(ruler):
    result = ruler["RingOnly"]
    np.testing.assert_allclose(result.score,
                               result.wasserstein - 10 * result.gradient_penalty, rtol=1e-5)
    summary = result.summary()
    assert summary["n"] == 2 and summary["median"] == pytest.approx(summary["mean"])
    assert "mean ± std over 2 splits" in result.format()
    assert "median ± MAD" in result.format("median_mad")
    assert list(result.to_frame().columns) == ["split", "score", "wasserstein",
                                               "gradient_penalty"]


def test_summaries_of_known_values():
    scores = [0.0, 1.0, 2.0, 10.0, np.nan]       # a diverged critic's NaN is left out
    stats = bg.summary_statistics(scores)
    assert stats["n"] == 4 and stats["mean"] == 3.25 and stats["median"] == 1.5
    assert stats["mad"] == 1.0                    # |x - 1.5| = 1.5, 0.5, 0.5, 8.5
    assert stats["std"] == pytest.approx(np.std([0, 1, 2, 10]))
    assert bg.format_summary(scores, "median_mad") == "1.5 ± 1.0"


def test_matrix_rows_are_test_classes_and_columns_training_classes(train, test):
    """A 'class' whose training images are noise: its column scores high in every row, while
    its row (real cells as test images) against real training cells scores about 0."""
    trains = {"cells": train["TipDots"], "odd": noise(64)}
    tests = {"cells": test["TipDots"], "odd": test["TipDots"].flip(-1)}
    matrix = bg.real_vs_real_matrix(trains, tests, **QUICK)
    assert list(matrix.index) == ["cells", "odd"] and list(matrix.columns) == ["cells", "odd"]
    assert (matrix["odd"] > 5).all()
    assert (matrix["cells"].abs() < 0.5).all()


def test_twin_structure_on_the_papers_table_1():
    """Four classes of the paper's Table 1 (means): Arp3/Fim1 and Tea1/Tea4 are twins."""
    classes = ["Arp3", "Tea1", "Fim1", "Tea4"]
    matrix = pd.DataFrame([[0.8, 13.2, 3.7, 18.3], [11.5, -0.1, 14.5, 6.9],
                           [2.8, 15.1, -0.2, 20.8], [15.8, 5.9, 19.5, -0.5]],
                          index=classes, columns=classes)
    check = bg.twin_structure(matrix, {"Fim1": "Arp3", "Tea4": "Tea1"})
    assert check.holds and check.tolerance == pytest.approx(0.5 * (13.2 + 14.5) / 2)
    assert list(check.pairs.test_class) == classes
    assert list(check.pairs.twin) == ["Fim1", "Tea4", "Arp3", "Tea1"]
    swapped = matrix.copy()
    swapped.loc["Tea1", ["Arp3", "Tea4"]] = [6.0, 7.0]
    swapped.loc["Arp3", "Arp3"] = 4.0                 # above its twin's 3.7: not the lowest
    check = bg.twin_structure(swapped, {"Fim1": "Arp3", "Tea4": "Tea1"})
    assert not check.twins_are_nearest and not check.diagonal_near_zero
    assert not check.diagonal_lowest
    assert check.pairs.set_index("test_class").nearest["Tea1"] == "Arp3"


def test_a_negative_diagonal_counts_as_zero_when_it_is_its_rows_lowest():
    """A weak critic's penalty pushes same-class scores below 0 (the paper's diagonal reaches
    -0.6); near twins may score little more. Small next to the typical score, and lowest in
    its row, is what "about 0" means; a diagonal far from 0 is not."""
    classes = ["a", "a2", "b"]
    matrix = pd.DataFrame([[-0.6, 0.7, 2.4], [0.9, -0.5, 2.1], [2.0, 2.6, 0.1]],
                          index=classes, columns=classes)
    check = bg.twin_structure(matrix, {"a": "a2"})
    assert check.diagonal_near_zero and check.holds
    far = matrix.copy()
    far.loc["b", "b"] = -1.5                           # lowest in its row, but not near 0
    assert not bg.twin_structure(far, {"a": "a2"}).diagonal_near_zero


def test_model_comparison_averages_classes_split_by_split(train, test):
    real = {name: test[name] for name in ("TipDots", "RingOnly")}
    sources = {"real images": {name: train[name] for name in real},
               "noise": {name: noise for name in real}}
    scores = bg.model_comparison_scores(real, sources, **(QUICK | dict(splits=2, steps=20)))
    assert set(scores.class_name) == {"TipDots", "RingOnly", "2 proteins"}
    per_split = scores[scores.class_name != "2 proteins"].groupby(["model", "split"]).score
    average = scores[scores.class_name == "2 proteins"].set_index(["model", "split"]).score
    pd.testing.assert_series_equal(per_split.mean().sort_index(), average.sort_index(),
                                   check_names=False)
    table = bg.score_table(scores, rows="class_name", columns="model")
    assert list(table.columns) == ["real images", "noise"]
    assert (table["real images"] < table["noise"]).all()
    text = bg.format_score_table(scores, rows="class_name", columns="model",
                                 summary="median_mad")
    assert text.attrs["summary"] == "median ± MAD" and " ± " in text.loc["TipDots", "noise"]


def test_generator_sources_give_images_and_star_pairs():
    config = bg.preset("smoke", generator_kind="star")
    star = bg.build_generator(config)
    sources = bg.star_sources(star, config, ["TipDots", "RingOnly"], seed=1)
    pair = sources["RingOnly"](5)
    assert pair.shape == (5, 2, *config.image_size) and not pair.requires_grad
    assert star.training          # sampled in eval mode, its own mode restored
    # Same seed, same draws: both classes' samplers share the red of their first cells.
    torch.testing.assert_close(sources["TipDots"](5)[:, 0], pair[:, 0])


def test_wrong_inputs_are_explained(test):
    with pytest.raises(ValueError, match="share"):
        bg.c2st_score(test["TipDots"], test["TipDots"][:, :1], **QUICK)
    with pytest.raises(ValueError, match="n images"):
        bg.c2st_score(test["TipDots"], lambda n: noise(n + 1), **QUICK)
    with pytest.raises(TypeError, match="unknown C2ST options"):
        bg.real_vs_real_scores({"a": noise(8)}, {"a": noise(8)}, **QUICK, ndfs=3)

