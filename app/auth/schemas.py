"""API shapes of the embedded issuer and the client registry."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.auth.assertion import MAX_CLIENT_KEYS
from app.auth.models import OAuthClient
from app.auth.verifier import GRANTABLE_SCOPES
from app.core.actor import Agency, Role, Scope
from app.core.schemas import InputSchema, Text200

OAuthErrorCode = Literal[
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "slow_down", "invalid_dpop_proof",
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
    client_id: str | None = Field(
        default=None,
        description="With `client_secret_post`; optional with `private_key_jwt` (then the assertion's iss).",
    )
    client_secret: str | None = Field(default=None, description="Only with `client_secret_post` authentication.")
    client_assertion_type: Literal["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"] | None = Field(
        default=None, description="Only with `private_key_jwt` authentication (RFC 7523 §2.2)."
    )
    client_assertion: str | None = Field(
        default=None,
        max_length=8192,
        description="`private_key_jwt`: a JWT signed (ES256, PS256 or RS256) with a key the client registered; "
        "`iss` = `sub` = client id, `aud` the token endpoint URL or the issuer, `exp` at most 300 s ahead, `jti` "
        "never used before.",
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer", "DPoP"] = Field(
        default="Bearer", description="`DPoP` when the request carried a DPoP proof: the token is bound to its key."
    )
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
    token_endpoint_auth_signing_alg_values_supported: list[str]
    dpop_signing_alg_values_supported: list[str]
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


def _absent_unless_set(**constraints: Any) -> Any:
    """An optional JWK member, left out of the JSON when not set (a JWK has no null members)."""
    return Field(default=None, exclude_if=lambda value: value is None, **constraints)


class ClientKey(BaseModel):
    """A public signature key (RFC 7517/7518): EC P-256 (`crv`, `x`, `y`) or RSA of 2048+ bits (`n`, `e`). Private
    members (`d`, …) are not members of this schema, so a private key is refused. Members not set are left out of
    answers, as in the key the client registered."""

    model_config = ConfigDict(extra="forbid")

    kty: Literal["EC", "RSA"]
    kid: str | None = _absent_unless_set(max_length=200, description="Required when the set has several keys.")
    alg: Literal["ES256", "PS256", "RS256"] | None = _absent_unless_set()
    use: Literal["sig"] | None = _absent_unless_set()
    crv: Literal["P-256"] | None = _absent_unless_set()
    x: str | None = _absent_unless_set(max_length=100)
    y: str | None = _absent_unless_set(max_length=100)
    n: str | None = _absent_unless_set(max_length=1400)
    e: str | None = _absent_unless_set(max_length=20)


class ClientKeySet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ClientKey] = Field(min_length=1, max_length=MAX_CLIENT_KEYS)


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
    jwks: ClientKeySet | None = Field(
        default=None,
        description="The client's public keys: it then authenticates with `private_key_jwt` and gets no secret.",
    )

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"allOf": _per_role_rules()})


class ClientRead(BaseModel):
    client_id: str
    name: str
    role: Role
    agency: Agency | None
    scopes: list[Scope]
    token_endpoint_auth_method: Literal["client_secret_basic", "private_key_jwt"] = Field(
        description="`client_secret_basic`: a secret (HTTP Basic or `client_secret_post`); `private_key_jwt`: "
        "assertions signed with a key of `jwks`."
    )
    jwks: ClientKeySet | None = Field(description="The registered public keys (`private_key_jwt` clients).")
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
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            jwks=ClientKeySet.model_validate(client.jwks) if client.jwks is not None else None,
            active=client.active,
            created_at=client.created_at,
            secret_rotated_at=client.secret_rotated_at,
            disabled_at=client.disabled_at,
        )


class ClientCredentialsRead(ClientRead):
    client_secret: str = Field(description="Shown only in this response; store it in the agency's secret store.")
