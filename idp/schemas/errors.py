"""The one place pydantic's errors become idp's InvalidInput (idp/errors.py: its `error`
is the RFC 6749/7591 code an HTTP answer uses, `field` the top-level field at fault)."""

from __future__ import annotations

from pydantic import ValidationError

from ..errors import InvalidInput

KIND_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def from_validation_error(exc: ValidationError, cls: type[InvalidInput]) -> InvalidInput:
    """The first of pydantic's errors as `cls`, worded like the rest of idp's messages.

    A rule of ours (a ValueError raised in a validator) keeps its own message; pydantic's
    structural errors (missing, unknown, wrong type) get one short sentence each.
    """
    first = exc.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    field = loc[0] if loc else None
    name = ".".join(part for part in loc if not part.isdigit()) or "input"
    kind = first["type"]
    if kind == "value_error":
        message = str(first["ctx"]["error"])
    elif kind == "missing":
        message = f"'{name}' is required."
    elif kind == "extra_forbidden":
        message = f"Unknown field '{name}'."
    elif kind in KIND_NAMES:
        item = " (each item)" if loc and loc[-1].isdigit() else ""
        message = f"'{name}'{item} must be {KIND_NAMES[kind]}."
    else:
        message = f"'{name}': {first['msg']}."
    error = cls(message, field)
    if kind in KIND_NAMES:
        # A value of the wrong JSON type is a malformed request, whatever the schema.
        error.error = InvalidInput.error
    return error
