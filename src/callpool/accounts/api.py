"""REST API for the account's API keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from callpool.accounts import service
from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.accounts.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from callpool.restapi import API, NOT_FOUND, Id

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"], responses=API)


@router.get("")
def list_api_keys(account_id: AccountId, database: DatabaseDep) -> list[ApiKeyOut]:
    """The account's keys, newest first, revoked ones included."""
    with database.reader() as db:
        return [ApiKeyOut.model_validate(key) for key in service.list_api_keys(db, account_id)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_api_key(
    body: ApiKeyCreate, account_id: AccountId, database: DatabaseDep
) -> ApiKeyCreated:
    """A new key. The response is the only time the key is shown."""
    with database.session() as db:
        raw = service.create_api_key(db, account_id, body.name)
        created = service.list_api_keys(db, account_id)[0]
        return ApiKeyCreated.model_validate(
            {**ApiKeyOut.model_validate(created).model_dump(), "key": raw}
        )


@router.post("/{key_id}/revoke", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def revoke_api_key(key_id: Id, account_id: AccountId, database: DatabaseDep) -> None:
    """Stop a key from working; it stays listed as revoked."""
    with database.session() as db:
        service.revoke_api_key(db, account_id, key_id)
