"""One way to give a command a group of flags that arrive as one built argument."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

Flag = tuple[str, Any, Any]
"""(parameter name, annotation, ``typer.Option``) of one flag."""


def flag_group(fn: Callable, param: str, flags: Sequence[Flag], build: Callable[[dict[str, Any]], Any]) -> Callable:
    """``fn`` with its ``param`` argument replaced by ``flags`` on the command line.

    Typer reads the wrapper's signature (``fn``'s parameters without ``param``, plus one
    keyword-only parameter per flag); when the command runs, ``build`` turns the flags'
    values (name -> value) into the object ``fn`` receives as ``param``.
    """
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name != param]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
        for name, annotation, option in flags
    ]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        values = {name: kwargs.pop(name) for name, _, _ in flags}
        return fn(*args, **{param: build(values)}, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper
