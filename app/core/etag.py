"""Strong ETags from row versions, and the If-Match precondition for updates (RFC 9110 §13.1.1)."""

from __future__ import annotations

from app.core.problems import PreconditionFailed, PreconditionRequired


def etag_of(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, current_version: int) -> None:
    """428 when the header is missing, 412 when no listed tag matches the current version."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "Send If-Match with the ETag from your last read of this resource, so concurrent updates "
            "cannot overwrite each other."
        )
    current = etag_of(current_version)
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates or current in candidates:
        return
    raise PreconditionFailed(
        f"The resource changed since you read it (current ETag {current}); read it again and retry.",
        headers={"ETag": current},
    )
