"""Configuration from flags and environment variables, and its validation."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from captioner_svc.engine import CaptionEngine, EngineConfig
from captioner_svc.server import CaptionerRuntime
from captioner_svc.settings import CaptionerSettings
from gateway.settings import GatewaySettings
from serving.batcher import BatcherSettings
from serving.server import ServingApp
from serving.settings import load_settings


def test_defaults_work_on_a_laptop() -> None:
    settings = CaptionerSettings()
    assert (settings.host, settings.port, settings.metrics_port) == ("127.0.0.1", 50051, 9101)
    assert GatewaySettings().port == 50050


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTIONER_PORT", "6000")
    monkeypatch.setenv("CAPTIONER_MAX_BATCH_SIZE", "12")
    assert load_settings(CaptionerSettings, []).port == 6000
    settings = load_settings(CaptionerSettings, ["--port", "7000", "--max-batch-delay-ms", "2.5"])
    assert (settings.port, settings.max_batch_size, settings.max_batch_delay_ms) == (7000, 12, 2.5)


def test_invalid_knobs_are_named() -> None:
    with pytest.raises(ValidationError) as caught:
        CaptionerSettings(max_batch_size=0)
    assert "max_batch_size" in str(caught.value)
    with pytest.raises(ValidationError, match="max_queue_size must be >= max_batch_size"):
        CaptionerSettings(max_batch_size=16, max_queue_size=8)
    with pytest.raises(ValueError, match="max_batch_size must be an integer >= 1"):
        BatcherSettings(max_batch_size=0)


def test_settings_are_frozen() -> None:
    settings = CaptionerSettings()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_captioner_cpu_threads_set_torchs_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """More torch threads than free cores make every decode step slower: the knob reaches torch."""
    monkeypatch.setenv("CAPTIONER_CPU_THREADS", "1")
    settings = load_settings(CaptionerSettings, [])
    assert settings.cpu_threads == 1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        CaptionEngine(EngineConfig(cpu_threads=settings.cpu_threads)).load()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValidationError, match="cpu_threads"):
        CaptionerSettings(cpu_threads=-1)


def test_captioner_join_after_steps_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CaptionerSettings().join_after_steps == 16
    monkeypatch.setenv("CAPTIONER_JOIN_AFTER_STEPS", "3")
    settings = load_settings(CaptionerSettings, [])
    runtime = CaptionerRuntime(ServingApp("captioner", settings), settings)
    assert runtime.engine.config.join_after_steps == 3
    with pytest.raises(ValidationError, match="join_after_steps"):
        CaptionerSettings(join_after_steps=0)


def test_a_decode_process_and_this_one_share_the_cores_unless_threads_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(6)))
    shared = CaptionerSettings(decode_process=True)
    runtime = CaptionerRuntime(ServingApp("captioner", shared), shared)
    assert runtime.engine.config.cpu_threads == 3
    assert runtime.decoder is not None and runtime.decoder.config.cpu_threads == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert CaptionerSettings(decode_process=True).torch_threads() == 1
    # Set, or in one process, the threads are as given (0: torch's default).
    assert CaptionerSettings(decode_process=True, cpu_threads=2).torch_threads() == 2
    assert CaptionerSettings().torch_threads() == 0
