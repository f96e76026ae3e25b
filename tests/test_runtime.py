"""Device, seeding, threads, profiles, recording and headless display."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import cellnb
from cellnb import display, profiles, progress, runtime
from cellnb.record import read_metrics, record


def test_auto_device_is_the_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    assert runtime.resolve_device("auto") == "cpu"


def test_a_missing_gpu_falls_back_to_the_cpu_with_a_hint(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    hints = []
    assert runtime.resolve_device("cuda", warn=hints.append) == "cpu"
    assert len(hints) == 1 and "CUDA is not available" in hints[0]


def test_auto_prefers_cuda_when_present(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    assert runtime.resolve_device("auto") == "cuda"
    assert runtime.resolve_device("cuda:1") == "cuda:1"


def test_unknown_devices_are_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        runtime.resolve_device("tpu")


def test_seeding_makes_numpy_and_torch_repeatable():
    runtime.seed_everything(7)
    first = (np.random.rand(3), torch.rand(3))
    generator = runtime.seed_everything(7)
    assert np.array_equal(first[0], np.random.rand(3))
    assert torch.equal(first[1], torch.rand(3))
    assert generator.integers(1 << 30) == np.random.default_rng(7).integers(1 << 30)


def test_thread_policy_uses_one_thread_on_small_machines_and_honours_the_environment(monkeypatch):
    assert runtime.default_thread_count(2, load=0.1) == 2     # quiet: both cores
    assert runtime.default_thread_count(2, load=1.2) == 1     # one core busy elsewhere
    assert runtime.default_thread_count(2, load=5.0) == 1     # never fewer than one
    assert runtime.default_thread_count(8, load=7.0) == 8     # large machines keep their cores
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("CELLNB_THREADS", "2")
        assert runtime.configure_threads() == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("CELLNB_THREADS", "many")
        with pytest.raises(ValueError, match="CELLNB_THREADS"):
            runtime.configure_threads()
    finally:
        torch.set_num_threads(before)


def test_environment_report_names_versions_and_device():
    report = runtime.environment_report("cpu")
    assert report.device == "cpu" and report.packages["numpy"] == np.__version__
    assert "device: cpu" in str(report)
    json.dumps(report.as_dict())


def test_auto_profile_follows_cuda(monkeypatch):
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    assert profiles.resolve_profile("auto") == "cpu"
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    assert profiles.resolve_profile("auto") == "gpu"
    with pytest.raises(ValueError, match="profile must be"):
        profiles.resolve_profile("laptop")


PRESETS = {"smoke": dict(epochs=1, width=8), "cpu": dict(epochs=5, width=16),
           "gpu": dict(epochs=50, width=64)}


def test_select_returns_the_profiles_values_with_overrides():
    settings = profiles.select(PRESETS, "cpu", width=32)
    assert settings.profile == "cpu" and settings.epochs == 5 and settings.width == 32
    assert dict(settings) == {"epochs": 5, "width": 32}
    assert "epochs = 5" in repr(settings)
    with pytest.raises(AttributeError, match="no setting 'depth'"):
        _ = settings.depth


def test_select_refuses_inconsistent_presets_and_unknown_overrides():
    with pytest.raises(ValueError, match="unknown settings"):
        profiles.select(PRESETS, "cpu", depth=3)
    broken = {**PRESETS, "gpu": dict(epochs=50)}
    with pytest.raises(ValueError, match="'gpu' defines"):
        profiles.select(broken, "cpu")


def test_record_writes_numbers_and_tables_that_read_back(tmp_path):
    path = tmp_path / "metrics.json"
    table = pd.DataFrame({"model": ["a", "b"], "accuracy": [0.5, 0.75]})
    assert record("accuracy", np.float32(0.25), path=path) == np.float32(0.25)
    record("table", table, path=path)
    record("counts", {"x": np.int64(3)}, path=path)
    metrics = read_metrics(path)
    assert metrics["accuracy"] == 0.25 and metrics["counts"] == {"x": 3}
    pd.testing.assert_frame_equal(metrics["table"], table)
    assert not list(tmp_path.glob("*.tmp"))


def test_tables_with_two_level_labels_read_back(tmp_path):
    path = tmp_path / "metrics.json"
    parts = {source: pd.DataFrame({"shift": [0.1, -0.2], "p": [0.5, 0.01]}, index=["a", "b"])
             for source in ("model", "truth")}
    wide = pd.concat(parts, axis=1)           # columns (model, shift), (model, p), ...
    record("wide", wide, path=path)
    record("long", wide.T, path=path)         # the same labels on the rows
    metrics = read_metrics(path)
    pd.testing.assert_frame_equal(metrics["wide"], wide)
    pd.testing.assert_frame_equal(metrics["long"], wide.T)


def test_record_defaults_to_the_metrics_file_of_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLNB_METRICS_FILE", str(tmp_path / "chapter.metrics.json"))
    cellnb.record("x", 1)
    assert cellnb.read_metrics(tmp_path / "chapter.metrics.json") == {"x": 1}


def test_record_refuses_odd_names_and_values(tmp_path):
    with pytest.raises(ValueError, match="metric names"):
        record("a b", 1, path=tmp_path / "m.json")
    with pytest.raises(TypeError, match="cannot be written as JSON"):
        record("f", object(), path=tmp_path / "m.json")
    with pytest.raises(FileNotFoundError, match="cellnb run"):
        read_metrics(tmp_path / "missing.json")


def test_headless_progress_prints_one_summary_line(monkeypatch, capsys):
    monkeypatch.setenv("CELLNB_HEADLESS", "1")
    assert list(progress.progress(range(5), desc="work", unit="steps")) == list(range(5))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("work: 5 steps in")


def test_headless_interactive_draws_the_static_default(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    monkeypatch.setenv("CELLNB_HEADLESS", "1")
    calls = []
    assert display.interactive(lambda size, name: calls.append((size, name)),
                               size=(1, 10, 1), name=["a", "b"]) is None
    assert calls == [(1, "a")]


def test_setup_records_the_environment(monkeypatch, tmp_path):
    path = tmp_path / "m.json"
    monkeypatch.setenv("CELLNB_METRICS_FILE", str(path))
    before = torch.get_num_threads()
    session = cellnb.setup(profile="smoke", seed=3, device="cpu", verbose=False)
    torch.set_num_threads(before)
    assert session.profile == "smoke" and session.device == "cpu" and session.seed == 3
    environment = cellnb.read_metrics(path)["environment"]
    assert environment["profile"] == "smoke" and environment["seed"] == 3


def test_live_controls_become_the_matching_widgets():
    import ipywidgets as widgets

    assert isinstance(display._as_widget(["class: golgi", "protein: GLG1"]), widgets.Dropdown)
    slider = display._as_widget((0, 20, 2))
    assert isinstance(slider, widgets.IntSlider) and (slider.min, slider.max, slider.step) == (0, 20, 2)
    assert isinstance(display._as_widget((0.0, 1.0)), widgets.FloatSlider)
    given = widgets.Checkbox(value=True)
    assert display._as_widget(given) is given
    with pytest.raises(TypeError, match="cannot build a widget"):
        display._as_widget({"a": 1})


def test_busy_cores_sees_work_happening_now_not_a_past_average():
    import threading
    import time

    stop = time.perf_counter() + 1.0

    def spin():
        while time.perf_counter() < stop:
            pass

    quiet = runtime.busy_cores(2, interval=0.2)
    worker = threading.Thread(target=spin)
    worker.start()
    busy = runtime.busy_cores(2, interval=0.3)
    worker.join()
    assert 0 <= quiet <= 2 and busy >= 0.6


def test_a_slider_starts_where_its_fourth_value_says_live_and_headless(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    slider = display._as_widget((-3.0, 3.0, 0.25, 0.0))
    assert (slider.min, slider.max, slider.step, slider.value) == (-3.0, 3.0, 0.25, 0.0)
    assert display._as_widget((0, 20, 2)).value == 0
    monkeypatch.setenv("CELLNB_HEADLESS", "1")
    calls = []
    display.interactive(lambda offset: calls.append(offset), offset=(-3.0, 3.0, 0.25, 1.5))
    assert calls == [1.5]
