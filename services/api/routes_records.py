"""Records: the company's leads, contacts and accounts as the web UI's records pages read them — a searchable
list, newest first, and one record with its fields and links. Read-only; any key of the company."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.api.bodies import Model
from services.api.contract import problems
from services.api.deps import Caller, Res
from services.api.http import OrjsonResponse
from services.core.db import tenant
from services.records.pages import CONTACTS_SHOWN, record_document, record_list

__all__ = ["router", "RecordPage", "RecordDocument"]

router = APIRouter(prefix="/api/v1/records", tags=["records"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AccountLink(_Open):
    id: str
    name: str | None = None


class RecordItem(_Open):
    """A record in a list: its id and main fields (leads: first_name, last_name, email, company, status; contacts:
    first_name, last_name, email, title; accounts: name, website, industry, billing_city)."""

    id: str
    account: AccountLink | None = Field(None, description="contacts: the linked account, null when none")


class RecordPage(_Open):
    model: str
    items: list[RecordItem]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


class RecordField(_Open):
    name: str
    label: str
    type: str = Field(description="string | text | email | phone | url | integer | decimal | date | boolean | choice")
    custom: bool = Field(description="one of the company's own fields")
    value: str | None = Field(
        description="as exports write it: 1200.50, 2024-03-01 (1990 / 2024-03 for a year or month), true"
    )


class ContactLink(_Open):
    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class LinkedContacts(_Open):
    items: list[ContactLink] = Field(description=f"the first {CONTACTS_SHOWN} by last name")
    total: int


class RecordDocument(_Open):
    id: str
    model: str
    fields: list[RecordField] = Field(description="every own field, built-in then custom, in the model's order")
    created_at: str
    updated_at: str
    version: int
    account: AccountLink | None = Field(None, description="contacts: the linked account, null when none or gone")
    contacts: LinkedContacts | None = Field(None, description="accounts: the contacts linked to it")


@router.get("/{model}", response_model=RecordPage, summary="The company's records, newest first, searched by q")
async def list_records(
    model: Model,
    key: Caller,
    res: Res,
    q: str | None = Query(
        None, max_length=200, description="part of an email, first or last name (accounts: name or website)"
    ),
    limit: int = Query(50, ge=1, le=200),
    after: uuid.UUID | None = Query(None, description="the last id of the previous page (its next_after)"),
) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        return OrjsonResponse(await record_list(conn, key.company_id, model, q, limit, after))


@router.get("/{model}/{record_id}", response_model=RecordDocument, responses=problems(404), summary="One record")
async def get_record(model: Model, record_id: uuid.UUID, key: Caller, res: Res) -> OrjsonResponse:
    async with tenant(res.pool, key.company_id) as conn:
        return OrjsonResponse(await record_document(conn, key.company_id, model, record_id))
