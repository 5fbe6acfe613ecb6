"""Helpers for turning the models' JSON schemas into OpenAPI 3.1 components."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any


def cached(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Build the schemas once (pydantic takes ~5 ms); hand out copies, which callers may
    change (the admin API adds its printable-string patterns)."""
    once = functools.cache(build)

    @functools.wraps(build)
    def copy_of() -> dict[str, Any]:
        return copy.deepcopy(once())

    return copy_of


def tidy(node: Any, names: bool = False) -> Any:
    """Drop pydantic's titles and the `default: null` of fields that are simply not set
    (`names`: the keys of `node` are property names, kept whatever they are)."""
    if isinstance(node, dict):
        return {
            key: tidy(value, names=not names and key == "properties")
            for key, value in node.items()
            if names or (key != "title" and not (key == "default" and value is None))
        }
    if isinstance(node, list):
        return [tidy(value) for value in node]
    return node
