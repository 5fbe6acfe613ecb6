"""Helpers for turning the models' JSON schemas into OpenAPI 3.1 components."""

from __future__ import annotations

from typing import Any


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
