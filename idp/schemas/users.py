"""Users and roles: the models the admin API, the console and the `idp users` commands
validate with, the shapes they answer with, and the OpenAPI schemas generated from them.

What needs the database (is the email taken, is a role defined) or the password policy
(services/passwords.py) stays in the services; these models check the shape and the rules of
a single value (an email address, a role name), once for every entry point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import models_json_schema

from .errors import InvalidInput, from_validation_error
from .openapi import cached, tidy

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 200
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_:.-]{0,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_ROLES = ("user",)


class InvalidAccount(InvalidInput):
    """Input that cannot make an account or a role; the message is safe to show."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def checked_email(email: str) -> str:
    """The normalised address; raise InvalidAccount when it cannot be an email address."""
    email = normalise_email(email)
    if not EMAIL_PATTERN.match(email) or len(email) > MAX_EMAIL_LENGTH:
        raise InvalidAccount("a valid email address is required", "email")
    return email


def checked_role_name(name: str) -> str:
    """A role name as defined roles have; raise InvalidAccount otherwise."""
    if not ROLE_PATTERN.match(name or ""):
        raise InvalidAccount(
            "a role name is 1-64 characters: lower-case letters, digits, _ : . or -, "
            "starting with a letter",
            "name",
        )
    return name


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


Email = Annotated[
    str,
    AfterValidator(checked_email),
    WithJsonSchema({"type": "string", "format": "email"}),
]
Password = Annotated[
    str,
    Field(description="Checked against the password policy; none: the user sets one by mail."),
    WithJsonSchema(
        {"type": "string", "minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}
    ),
]
RoleName = Annotated[
    str,
    AfterValidator(checked_role_name),
    WithJsonSchema({"type": "string", "pattern": ROLE_PATTERN.pattern}),
]
# Role names in a user's list: any string here; the service refuses roles not defined.
RoleNames = Annotated[list[str], AfterValidator(_unique)]
PersonName = Annotated[str, AfterValidator(lambda name: name.strip()[:MAX_NAME_LENGTH])]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewUser(_Input):
    """A user an admin creates."""

    email: Email
    password: Password = None
    name: PersonName = ""
    roles: Annotated[RoleNames, Field(description="Defined roles only.")] = list(DEFAULT_ROLES)
    email_verified: bool = False


class UserUpdate(_Input):
    """The parts of a user an admin changes; a field left out keeps its value."""

    name: PersonName = None
    email_verified: bool = None
    roles: RoleNames = None
    disabled: Annotated[bool, Field(description="Disabling ends every session.")] = None


class RoleList(_Input):
    """A user's roles, all of them."""

    roles: RoleNames


class Role(_Input):
    """A role an admin defines (the built-in ones are user, moderator and admin)."""

    name: RoleName
    description: str = ""

    @field_validator("description")
    @classmethod
    def _short(cls, value: str) -> str:
        return value[:MAX_DESCRIPTION_LENGTH]


class User(BaseModel):
    """A user as the admin API and the `idp users` commands show it."""

    id: Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
    email: Annotated[str, WithJsonSchema({"type": "string", "format": "email"})]
    email_verified: bool
    name: str
    roles: list[str]
    disabled: bool
    mfa_enabled: bool
    created_at: Annotated[str | None, WithJsonSchema({"type": "string", "format": "date-time"})] = (
        None
    )


class UserPage(BaseModel):
    """One page of users, by creation order."""

    users: list[User]
    page: int
    per_page: int
    total: int


Input = TypeVar("Input", bound=BaseModel)


def validate(model: type[Input], data: Mapping[str, Any] | Any) -> Input:
    """`data` as `model`; raise InvalidAccount naming the field that is wrong."""
    if not isinstance(data, Mapping):
        raise InvalidAccount("The body must be a JSON object.")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise from_validation_error(exc, InvalidAccount) from None


def changes(update: BaseModel) -> dict[str, Any]:
    """The fields an update sets (those left out, or None, keep their value)."""
    return {name: value for name, value in update if value is not None}


def user_json(user: Any) -> dict[str, Any]:
    """A user row as the User shape."""
    created = getattr(user, "created_at", None)
    return User(
        id=str(user.id),
        email=user.email,
        email_verified=bool(user.email_verified),
        name=user.name or "",
        roles=list(user.roles),
        disabled=bool(user.disabled),
        mfa_enabled=bool(user.mfa_enabled),
        created_at=created.isoformat() if created is not None else None,
    ).model_dump()


@cached
def openapi_components() -> dict[str, Any]:
    """The user and role schemas of the admin API's OpenAPI document."""
    inputs = [NewUser, UserUpdate, RoleList, Role]
    _, document = models_json_schema(
        [(model, "validation") for model in inputs]
        + [(model, "serialization") for model in (User, UserPage)],
        ref_template="#/components/schemas/{model}",
    )
    return {name: tidy(schema) for name, schema in document["$defs"].items()}
