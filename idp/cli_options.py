"""`idp` command options derived from a schema model, so a new field is a new option.

Each field of the model (and of a nested model, such as ClientMetadata.token_exchange)
becomes an option: `--field-name`, or what its surfaces.Cli marker says; a list field is a
repeatable option named in the singular, a boolean a flag, a field with an enum a choice.
`model_options` adds them to a command; `collect` turns the parsed values back into model
input, leaving out the options not given, so the model's defaults apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, get_origin

import click
from pydantic import BaseModel

from .schemas.surfaces import Cli, marker

SEPARATOR = "__"  # between a field and its nested field in a parameter name


def _enum(info) -> list[str] | None:
    for item in info.metadata:
        schema = getattr(item, "json_schema", None)
        if isinstance(schema, dict) and "enum" in schema:
            return schema["enum"]
    return None


def _options(model: type[BaseModel], prefix: str = "") -> list[tuple[list[str], dict]]:
    """(declarations, settings) of click.option for each field, nested models flattened."""
    options = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            options.extend(_options(annotation, f"{prefix}{name}{SEPARATOR}"))
            continue
        cli = marker(info, Cli) or Cli()
        is_list = get_origin(annotation) is list
        flag = cli.option or "--" + name.replace("_", "-").removesuffix("s" if is_list else "")
        kwargs: dict[str, Any] = {"help": cli.help or info.description}
        if cli.json_file:
            kwargs["type"] = click.File("r")
        elif annotation is bool:
            kwargs["is_flag"] = True
        elif is_list:
            kwargs["multiple"] = True
        elif annotation is int:
            kwargs["type"] = int
        elif choices := _enum(info):
            kwargs["type"] = click.Choice(choices)
        if cli.default is not None:
            kwargs.update(default=cli.default, show_default=True)
        options.append(([flag, prefix + name], {"required": cli.required, **kwargs}))
    return options


def model_options(model: type[BaseModel]) -> Callable:
    """Decorate a click command with one option per field of `model`."""

    def decorate(command: Callable) -> Callable:
        for declarations, settings in reversed(_options(model)):
            command = click.option(*declarations, **settings)(command)
        return command

    return decorate


def collect(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The model input from the parsed options; options not given are left out."""
    files = {
        name
        for name, info in model.model_fields.items()
        if (cli := marker(info, Cli)) is not None and cli.json_file
    }
    data: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value is False or value == ():
            continue
        if key in files:
            value = _read_json(value)
        *parents, name = key.split(SEPARATOR)
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
        target[name] = list(value) if isinstance(value, tuple) else value
    return data


def _read_json(handle) -> Any:
    try:
        return json.load(handle)
    except ValueError as exc:
        raise click.ClickException(f"{handle.name} is not JSON") from exc
