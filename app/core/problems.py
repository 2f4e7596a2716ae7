"""RFC 9457 problem details: one error hierarchy and its schema, raised by every layer.

Every 4xx/5xx leaves the service as ``application/problem+json`` with a stable ``type`` URI; the web layer
(``app.api.problems``) renders them, with ``title`` and ``detail`` in the language the client asked for (the
titles and ``Message`` details are in the catalogue, ``app.core.i18n``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from app.core.i18n import N_, Language, Message, translate

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://sbt.example.go.id/problems/"


class InvalidParam(BaseModel):
    name: str = Field(description="Location of the offending input, e.g. `body.nip` or `query.limit`.")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details; `title` and `detail` in the language of `Content-Language` (`Accept-Language`:
    `id` for Indonesian, English otherwise)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "https://sbt.example.go.id/problems/illegal-transition",
                "title": "Illegal workflow transition",
                "status": 409,
                "detail": "Cannot 'recommend' a case in stage DITERIMA; allowed from: DITERUSKAN.",
                "instance": "/api/v1/cases/2b0c.../transitions",
            }
        },
    )

    type: str = Field(description="Stable URI identifying the problem type.")
    title: str = Field(description="Short summary, the same for every occurrence of the type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(default=None, description="Explanation of this occurrence.")
    instance: str | None = Field(default=None, description="URI reference of the request.")
    invalid_params: list[InvalidParam] | None = Field(
        default=None, description="Per-field validation errors (422 and 400)."
    )


class ProblemError(Exception):
    """Base of every error the service raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = N_("Internal server error")

    def __init__(
        self,
        detail: str | Message | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        invalid_params: Sequence[InvalidParam] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(str(detail or self.title))
        self.message = detail if isinstance(detail, Message) else None
        """The detail's catalogue text, rendered in the client's language when there is one."""
        self.detail = str(detail) if detail is not None else None
        self.headers = dict(headers or {})
        self.invalid_params = list(invalid_params) if invalid_params else None
        self.extra = dict(extra or {})

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    def to_problem(self, instance: str | None, language: Language = Language.ENGLISH) -> Problem:
        detail = self.message.render(language) if self.message is not None else self.detail
        return Problem(
            type=self.type_uri(),
            title=translate(language, self.title),
            status=self.status,
            detail=detail,
            instance=instance,
            invalid_params=self.invalid_params,
            **self.extra,
        )


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", N_("Malformed request")


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", N_("Authentication required")


class Forbidden(ProblemError):
    status, slug, title = 403, "insufficient-scope", N_("Insufficient scope")


class AgencyNotPermitted(Forbidden):
    slug, title = "agency-not-permitted", N_("This agency may not perform this action")


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", N_("Resource not found")


class MethodNotAllowed(ProblemError):
    status, slug, title = 405, "method-not-allowed", N_("Method not allowed")


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", N_("Conflict with the current state")


class IllegalTransition(Conflict):
    slug, title = "illegal-transition", N_("Illegal workflow transition")


class IdempotencyInFlight(Conflict):
    slug, title = "idempotency-in-flight", N_("A request with this Idempotency-Key is still being processed")


class PreconditionFailed(ProblemError):
    status, slug, title = 412, "precondition-failed", N_("The resource has changed (ETag mismatch)")


class ContentTooLarge(ProblemError):
    status, slug, title = 413, "content-too-large", N_("Request body too large")


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", N_("Unsupported media type")


class ValidationProblem(ProblemError):
    status, slug, title = 422, "validation-error", N_("The request is not valid")


class SanctionNotAllowed(ValidationProblem):
    """The sanction (or level) is outside the SKB matrix for the violation, the employee kind and the date; the
    problem lists the allowed ones (``allowed_levels``, ``allowed_sanctions``)."""

    slug, title = "sanction-not-allowed", "Sanction not allowed by the sanction matrix"


class SanctionReasonRequired(ValidationProblem):
    """The imposed sanction departs from the recommendation's level without a coded reason; the problem lists the
    sanctions within the level (``allowed_sanctions``) and the reasons that allow a departure (``reasons``)."""

    slug, title = "sanction-reason-required", "A sanction departing from the recommendation needs a reason"


class IdempotencyMismatch(ValidationProblem):
    slug, title = "idempotency-key-reused", N_("Idempotency-Key reused with a different request")


class BatchItemProblem(BaseModel):
    index: int = Field(description="0-based position of the item in the request's `items`.")
    problem: Problem = Field(description="Why this item was refused, as the single-item operation would say it.")


class BatchProblem(Problem):
    """A refused batch: nothing was written; every refused item is listed with its own problem."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "https://sbt.example.go.id/problems/batch-rejected",
                "title": "The batch was refused; nothing was written",
                "status": 422,
                "detail": "1 of 2 item(s) refused; nothing was written. Fix them and send the batch again.",
                "instance": "/api/v1/cases:batch",
                "errors": [
                    {
                        "index": 1,
                        "problem": {
                            "type": "https://sbt.example.go.id/problems/validation-error",
                            "title": "The request is not valid",
                            "status": 422,
                            "detail": "unknown code 'X-1'; see /api/v1/reference",
                            "invalid_params": [
                                {"name": "body.violation_code", "reason": "unknown code 'X-1'; see /api/v1/reference"}
                            ],
                        },
                    }
                ],
            }
        },
    )

    errors: list[BatchItemProblem] | None = Field(
        default=None,
        description="The refused items, in request order; absent when the batch itself is refused (e.g. more "
        "items than the operation's `maxItems`), which `invalid_params` then names.",
    )


class BatchRejected(ValidationProblem):
    slug, title = "batch-rejected", "The batch was refused; nothing was written"

    def __init__(self, total: int, errors: Sequence[BatchItemProblem]) -> None:
        super().__init__(
            f"{len(errors)} of {total} item(s) refused; nothing was written. Fix them and send the batch again.",
            extra={"errors": [error.model_dump(mode="json", exclude_none=True) for error in errors]},
        )
        self.errors = list(errors)


class PreconditionRequired(ProblemError):
    status, slug, title = 428, "precondition-required", N_("If-Match header required")


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", N_("Too many requests")


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "unavailable", N_("Service unavailable")


class LedgerBusy(ServiceUnavailable):
    """Too many writes wait for their ledger positions (or one waited too long): back-pressure, retry later."""

    slug, title = "ledger-busy", N_("The ledger is busy")


class LedgerIntegrityFailure(ServiceUnavailable):
    slug, title = "ledger-integrity-failure", N_("The stored ledger no longer matches its signed checkpoints")


ERROR_BY_STATUS: dict[int, type[ProblemError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        ContentTooLarge,
        UnsupportedMediaType,
        ValidationProblem,
        PreconditionRequired,
        TooManyRequests,
        ServiceUnavailable,
    )
}
