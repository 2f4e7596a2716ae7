"""Request and response bodies of the batch operations (bulk import), built from the single-item schemas.

Each item is the body of the single operation (``CaseCreate``, ``AgencyRecordCreate``, ``ArchivedRecordCreate``,
``TransitionCreate``), wrapped with the case it belongs to where the single operation takes that from the path. The
contract states the item schemas and the item count; the items themselves are validated one by one by the batch
flow (``app.flows.batch``), so that each refused item is reported with its own problem and index.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field, SkipValidation, StringConstraints

from app.cases.schemas import AgencyRecordCreate, ArchivedRecordCreate, CaseCreate, TransitionCreate
from app.core.schemas import InputSchema
from app.ledger.schemas import Receipted

MAX_BATCH_ITEMS = 1000
"""Items per request: a batch is one transaction and one pending ledger write, so its size bounds both."""


def _items(description: str) -> object:
    return Field(min_length=1, max_length=MAX_BATCH_ITEMS, description=description)


class RecordBatchItem(InputSchema):
    case_id: uuid.UUID
    record: AgencyRecordCreate


class ArchivedRecordBatchItem(InputSchema):
    case_id: uuid.UUID
    record: ArchivedRecordCreate


class TransitionBatchItem(InputSchema):
    case_id: uuid.UUID
    if_match: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[ -~]+$")] = Field(
        description="The case's ETag before this step, as the single operation's If-Match header; `*` skips the "
        "check (a backfill that has just created the case in an earlier batch may know no ETag)."
    )
    transition: TransitionCreate


# SkipValidation: the list (and its length) is checked on arrival, its items by the flow, one by one.
class CaseBatchCreate(InputSchema):
    items: Annotated[list[SkipValidation[CaseCreate]], _items("Cases to report, each as the body of POST /cases.")]


class RecordBatchCreate(InputSchema):
    items: Annotated[list[SkipValidation[RecordBatchItem]], _items("The calling agency's own records of cases.")]


class ArchivedRecordBatchCreate(InputSchema):
    items: Annotated[
        list[SkipValidation[ArchivedRecordBatchItem]], _items("A retired agency's records, from its archive.")
    ]


class TransitionBatchCreate(InputSchema):
    items: Annotated[
        list[SkipValidation[TransitionBatchItem]],
        _items("Workflow steps, applied in order (several steps of one case may follow each other)."),
    ]


class BatchItemResult(BaseModel):
    index: int = Field(description="0-based position of the item in the request.")
    id: uuid.UUID = Field(description="The case, record or transition the item created.")
    case_id: uuid.UUID
    location: str = Field(
        description="Where the written resource is read (what the single operation's Location or path names)."
    )
    etag: str = Field(description="The resource's ETag after the whole batch (the case's for a transition).")
    ledger_seq: int = Field(description="Ledger position of the item's entry (its first, when a step writes two).")


class BatchResult(Receipted):
    items: list[BatchItemResult] = Field(description="One result per item, in request order.")
