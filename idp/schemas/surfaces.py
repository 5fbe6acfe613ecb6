"""Where a schema field may be set besides the admin API (which takes every field).

Attach these to a field with typing.Annotated. A field without `Registrable` cannot be set by
dynamic registration (RFC 7591 clients); a field without `Cli` gets an `idp` option derived
from its name (`--field-name`; a list takes one value per repeated option, named in the
singular; a boolean is a flag); `Cli` renames it or changes how its value is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Registrable:
    """Dynamic registration (RFC 7591/7592) may set this field."""


@dataclass(frozen=True)
class Cli:
    """The field's `idp` option: its name, help, default and how its text becomes a value."""

    option: str | None = None
    help: str | None = None
    default: Any = None
    required: bool = False
    # The option names a JSON file whose content is the value (e.g. --jwks-file).
    json_file: bool = False


REGISTRABLE = Registrable()


def marker(field_info, kind: type) -> Any:
    """The `kind` marker attached to a pydantic field, or None."""
    return next((m for m in field_info.metadata if isinstance(m, kind)), None)
