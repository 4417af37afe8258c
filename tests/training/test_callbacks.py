"""Callbacks every training run takes: the thread count a scheduler hands over (ThreadsFromFile)."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from reasoning_irl.training.callbacks import THREADS_FILE_ENV, MetricsJsonl, ThreadsFromFile, run_callbacks


@pytest.fixture
def threads_restored():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def step(callback):
    callback.on_step_begin(args=None, state=None, control=None)


def test_the_count_follows_the_file_when_it_changes(tmp_path, threads_restored):
    path = tmp_path / "lane.threads"
    callback = ThreadsFromFile(path)
    step(callback)  # no file yet: nothing changes
    assert torch.get_num_threads() == threads_restored
    path.write_text("2\n")
    step(callback)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # set elsewhere; the file has not changed since it was read, so it is not read again
    step(callback)
    assert torch.get_num_threads() == 1
    path.write_text("3\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))  # a later write, for sure
    step(callback)
    assert torch.get_num_threads() == 3


@pytest.mark.parametrize("text", ["0", "two", "-1", ""])
def test_a_damaged_file_is_said_and_ignored(tmp_path, threads_restored, caplog, text):
    path = tmp_path / "lane.threads"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="reasoning_irl.training.callbacks"):
        step(ThreadsFromFile(path))
    assert torch.get_num_threads() == threads_restored
    assert "is not a thread count" in caplog.text


def test_runs_take_the_callback_only_when_a_scheduler_names_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(THREADS_FILE_ENV, raising=False)
    assert [type(c) for c in run_callbacks(tmp_path)] == [MetricsJsonl]
    monkeypatch.setenv(THREADS_FILE_ENV, str(tmp_path / "lane.threads"))
    callbacks = run_callbacks(tmp_path)
    assert [type(c) for c in callbacks] == [MetricsJsonl, ThreadsFromFile]
    assert callbacks[1].path == tmp_path / "lane.threads"
