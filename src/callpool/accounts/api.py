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
    return service.list_api_keys(database, account_id)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_api_key(
    body: ApiKeyCreate, account_id: AccountId, database: DatabaseDep
) -> ApiKeyCreated:
    """A new key. The response is the only time the key is shown."""
    return service.new_api_key(database, account_id, body.name)


@router.post("/{key_id}/revoke", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def revoke_api_key(key_id: Id, account_id: AccountId, database: DatabaseDep) -> None:
    """Stop a key from working; it stays listed as revoked."""
    service.revoke_api_key(database, account_id, key_id)
