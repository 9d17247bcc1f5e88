"""``cli._beside.rendered_beside``: the report a forked child renders while the parent stores the findings."""

from __future__ import annotations

import os

import pytest

from provenance.cli._beside import can_fork, rendered_beside

TEXT = '{"a":"été \udcff 🙂"}\n' * 20_000  # larger than a pipe's buffer, a lone surrogate, non-ASCII


def test_the_child_renders_the_text_the_parent_would_while_the_work_runs_here():
    done: list[int] = []
    renders: list[int] = []

    def render() -> str:
        renders.append(os.getpid())  # seen here only when the parent renders itself
        return TEXT

    text = rendered_beside(render, lambda: done.append(os.getpid()))
    assert text == TEXT
    assert done == [os.getpid()]  # the work ran in this process
    assert renders == ([] if can_fork() else [os.getpid()])


def test_a_child_that_fails_leaves_the_parent_to_render_and_raise_as_ever():
    parent = os.getpid()

    def render() -> str:
        if os.getpid() != parent:  # the child fails
            raise MemoryError("child")
        return "made here\n"

    assert rendered_beside(render, lambda: None) == "made here\n"

    def broken() -> str:
        raise ValueError("cannot render")

    with pytest.raises(ValueError, match="cannot render"):
        rendered_beside(broken, lambda: None)


def test_the_works_error_propagates_and_the_child_is_waited_for():
    def work() -> None:
        raise RuntimeError("store busy")

    with pytest.raises(RuntimeError, match="store busy"):
        rendered_beside(lambda: TEXT, work)
    with pytest.raises(ChildProcessError):  # no child left behind: every fork was waited for
        os.waitpid(-1, os.WNOHANG)


def test_without_work_or_fork_the_steps_run_here_in_order():
    order: list[str] = []

    def render() -> str:
        order.append(f"render {os.getpid()}")
        return "text"

    assert rendered_beside(render, None) == "text"
    assert rendered_beside(render, lambda: order.append("work"), fork=False) == "text"
    assert order == [f"render {os.getpid()}", "work", f"render {os.getpid()}"]


@pytest.mark.skipif(not can_fork(), reason="the child is forked on Linux only")
def test_a_child_stuck_past_the_wait_is_killed_and_the_parent_renders(monkeypatch):
    import time

    from provenance.cli import _beside

    monkeypatch.setattr(_beside, "CHILD_WAIT_S", 0.2)
    parent = os.getpid()

    def render() -> str:
        while os.getpid() != parent:  # the child never ends by itself
            time.sleep(0.05)
        return "made here\n"

    assert rendered_beside(render, lambda: None) == "made here\n"  # the parent's own text, not the child's
    with pytest.raises(ChildProcessError):  # killed and waited for
        os.waitpid(-1, os.WNOHANG)
