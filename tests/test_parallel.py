"""Independent jobs in worker processes (cellnb.train.parallel) give what they give in order,
and the BioGANs evaluations that use them give the same numbers in one process or two."""
import os

import pytest
import torch

from cellnb.papers import biogans as bg
from cellnb.papers.biogans import analysis
from cellnb.train.parallel import run_in_processes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def worker_report(value: int) -> tuple[int, int, int]:
    """The value, the worker's process id and its torch threads."""
    return value * value, os.getpid(), torch.get_num_threads()


def test_jobs_come_back_in_order_from_other_processes_with_their_threads():
    results = run_in_processes(worker_report, [dict(value=v) for v in (3, 1, 2)], processes=2,
                               threads=1)
    assert [square for square, _, _ in results] == [9, 1, 4]
    assert all(pid != os.getpid() for _, pid, _ in results)
    assert {threads for _, _, threads in results} == {1}


def test_one_process_runs_here_in_order():
    results = run_in_processes(worker_report, [dict(value=v) for v in (2, 5)], processes=1)
    assert [(square, pid) for square, pid, _ in results] == [(4, os.getpid()), (25, os.getpid())]
    with pytest.raises(ValueError, match="processes"):
        run_in_processes(worker_report, [], processes=0)


def test_a_used_generator_source_refuses_to_travel():
    config = bg.preset("smoke", generator_kind="separable")
    source = bg.generator_source(bg.build_generator(config), config, seed=1)
    fresh = bg.generator_source(bg.build_generator(config), config, seed=1)
    import pickle

    pickle.dumps(fresh)                       # not drawn from yet: it can go to a worker
    source(2)
    with pytest.raises(RuntimeError, match="drawn samples already"):
        pickle.dumps(source)


def test_the_c2st_and_reconstructions_give_the_same_numbers_in_two_processes():
    torch.manual_seed(0)
    config = bg.preset("smoke", generator_kind="separable", n_classes=1)
    generator = bg.build_generator(config).eval()
    real = torch.rand(24, 2, *config.image_size) * 2 - 1
    options = dict(steps=3, splits=2, batch=4, config=config, seed=0, progress=False)
    snapshots, configs = {"a": {1: generator, 2: generator}}, {"a": config}
    _, alone = analysis.training_c2st(real, snapshots, configs, processes=1, **options)
    _, paired = analysis.training_c2st(real, snapshots, configs, processes=2, **options)
    assert alone.equals(paired)

    sources = {"model": {"x": bg.generator_source(generator, config, seed=0)}}
    in_order = bg.model_comparison_scores({"x": real}, sources, steps=3, splits=2, batch=4,
                                          config=config, progress=False)
    sources = {"model": {"x": bg.generator_source(generator, config, seed=0)},
               "again": {"x": bg.generator_source(generator, config, seed=0)}}
    side_by_side = bg.model_comparison_scores({"x": real}, sources, steps=3, splits=2, batch=4,
                                              config=config, progress=False, processes=2)
    model = side_by_side[side_by_side.model == "model"].reset_index(drop=True)
    again = side_by_side[side_by_side.model == "again"].reset_index(drop=True)
    columns = ["class_name", "split", "score"]
    assert in_order[in_order.model == "model"][columns].reset_index(drop=True).equals(
        model[columns])
    assert model.score.equals(again.score)


def test_models_trained_side_by_side_equal_models_trained_in_turn(tmp_path):
    settings = bg.chapter_settings("smoke", iterations=4, gan_iterations=4)
    data = bg.load_cells("synthetic", sim_config=bg.pombe_config(settings), cache=False)
    train = bg.GanTrainSettings(iterations_per_epoch=2, snapshots=(2,))
    jobs = {name: (bg.model_config(settings, "separable", algorithm=algorithm), data, train)
            for name, algorithm in (("wgan", "wgan_gp"), ("gan", "gan"))}
    in_turn = bg.train_gans(jobs, processes=1, checkpoint_dir=tmp_path / "in_turn",
                            verbose=False)
    side_by_side = bg.train_gans(jobs, processes=2, checkpoint_dir=tmp_path / "side_by_side",
                                 verbose=False)
    for name in jobs:
        for key, value in in_turn[name].generator.state_dict().items():
            assert torch.equal(value, side_by_side[name].generator.state_dict()[key]), (name, key)
        assert sorted(side_by_side[name].snapshots) == [2]
    with pytest.raises(ValueError, match="checkpoint_dir"):
        bg.train_gans(jobs, processes=2)
