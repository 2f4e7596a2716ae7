"""API shapes of the embedded issuer and the client registry."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.auth.models import OAuthClient
from app.auth.verifier import GRANTABLE_SCOPES
from app.core.actor import Agency, Role, Scope
from app.core.schemas import InputSchema, Text200

OAuthErrorCode = Literal[
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "slow_down",
]  # fmt: skip


def _grant_type_required(schema: dict[str, Any]) -> None:
    """The contract states what the endpoint enforces; the field stays optional in Python so that a missing or
    other grant type is answered with RFC 6749's own 400 error (`invalid_request`, `unsupported_grant_type`)."""
    schema["required"] = ["grant_type"]
    schema["properties"]["grant_type"] = {"type": "string", "enum": ["client_credentials"], "title": "Grant Type"}


class TokenRequest(BaseModel):
    """``application/x-www-form-urlencoded`` body of a client-credentials token request (RFC 6749 §4.4.2)."""

    model_config = ConfigDict(json_schema_extra=_grant_type_required)

    grant_type: str | None = Field(default=None, description="Must be `client_credentials`.")
    scope: str | None = Field(
        default=None, description="Space-separated subset of the client's scopes; all of them when omitted."
    )
    client_id: str | None = Field(default=None, description="Only with `client_secret_post` authentication.")
    client_secret: str | None = Field(default=None, description="Only with `client_secret_post` authentication.")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - RFC 6750 token type
    expires_in: int = Field(description="Seconds until the token expires.")
    scope: str = Field(description="The scopes granted, space-separated.")


class OAuthError(BaseModel):
    """RFC 6749 §5.2 error response (``application/json``, as OAuth clients expect)."""

    error: OAuthErrorCode
    error_description: str


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 metadata of the embedded issuer."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    response_types_supported: list[str]


class JSONWebKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    use: str
    alg: str


class JSONWebKeySet(BaseModel):
    keys: list[JSONWebKey]


def _per_role_rules() -> list[JsonValue]:
    """The service's rules, stated in the contract: an agency exactly for agency clients, scopes the role may hold."""
    rules: list[JsonValue] = []
    for role in Role:
        agency = {"not": {"type": "null"}} if role is Role.AGENCY else {"type": "null"}
        scopes = {"type": "array", "minItems": 1, "items": {"enum": sorted(s.value for s in GRANTABLE_SCOPES[role])}}
        then: dict[str, Any] = {"properties": {"agency": agency, "scopes": {"anyOf": [scopes, {"type": "null"}]}}}
        if role is Role.AGENCY:
            then["required"] = ["agency"]
        rules.append({"if": {"properties": {"role": {"const": role.value}}}, "then": then})
    return rules


class ClientCreate(InputSchema):
    name: Text200 = Field(description="Which system of which agency uses the client.")
    role: Role
    agency: Agency | None = Field(default=None, description="Required for, and only for, role `agency`.")
    scopes: list[Scope] | None = Field(default=None, description="Defaults to every scope the role may hold.")
    client_id: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$", description="Generated when omitted."
    )

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"allOf": _per_role_rules()})


class ClientRead(BaseModel):
    client_id: str
    name: str
    role: Role
    agency: Agency | None
    scopes: list[Scope]
    active: bool
    created_at: dt.datetime
    secret_rotated_at: dt.datetime | None
    disabled_at: dt.datetime | None

    @classmethod
    def of(cls, client: OAuthClient) -> ClientRead:
        return cls(
            client_id=client.client_id,
            name=client.name,
            role=client.role_enum,
            agency=client.agency_enum,
            scopes=sorted(client.scopes),
            active=client.active,
            created_at=client.created_at,
            secret_rotated_at=client.secret_rotated_at,
            disabled_at=client.disabled_at,
        )


class ClientCredentialsRead(ClientRead):
    client_secret: str = Field(description="Shown only in this response; store it in the agency's secret store.")
