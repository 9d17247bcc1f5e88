"""render_beside: the report rendered on a thread while the findings' store write waits on the disk."""

from __future__ import annotations

import threading

import pytest

from provenance.report.render_beside import render_beside


def test_render_runs_on_another_thread_from_when_the_work_starts_it():
    rendered = threading.Event()
    threads: dict[str, int] = {}

    def render() -> str:
        threads["render"] = threading.get_ident()
        rendered.set()
        return "the report"

    def work(start) -> None:
        threads["work"] = threading.get_ident()
        assert not rendered.is_set()  # nothing rendered before the work says so
        start()
        start()  # a second call starts nothing more
        # the render runs while the work goes on: it waits for it here (rendered in turn, after the
        # work, it would never be set)
        assert rendered.wait(10)

    assert render_beside(render, work) == "the report"
    assert threads["work"] == threading.get_ident()
    assert threads["render"] != threads["work"]


def test_a_work_that_never_starts_it_gets_the_render_here_after_it():
    order = []

    def render() -> str:
        order.append(("render", threading.get_ident()))
        return "text"

    assert render_beside(render, lambda start: order.append(("work", threading.get_ident()))) == "text"
    assert [step for step, _ in order] == ["work", "render"]
    assert {ident for _, ident in order} == {threading.get_ident()}


def test_without_work_the_render_runs_here():
    assert render_beside(lambda: threading.current_thread().name, None) == threading.current_thread().name


def test_a_failed_work_raises_its_error():
    def work(start) -> None:
        start()
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        render_beside(lambda: "text", work)


def test_a_failed_render_raises_after_the_work_ended():
    done = []

    def render() -> str:
        raise ValueError("bad report")

    def work(start) -> None:
        start()
        done.append("stored")

    with pytest.raises(ValueError, match="bad report"):
        render_beside(render, work)
    assert done == ["stored"]  # the store write was not cut short by the render's failure
