"""REST API for the account: its settings and its API keys."""

from __future__ import annotations

from fastapi import APIRouter, status

from callpool.accounts import service
from callpool.accounts.auth import AccountId, DatabaseDep
from callpool.accounts.schemas import (
    AccountOut,
    AccountUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
)
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


account_router = APIRouter(prefix="/api/v1/account", tags=["account"], responses=API)


@account_router.get("")
def get_account(account_id: AccountId, database: DatabaseDep) -> AccountOut:
    """The API key's account and its settings."""
    return service.account_settings(database, account_id)


@account_router.patch("")
def update_account(body: AccountUpdate, account_id: AccountId, database: DatabaseDep) -> AccountOut:
    """Change the account's name, time zone or accuracy target (those sent; null keeps one).
    A new accuracy target makes each site's pool-size advice be simulated again for it at the
    worker's next round; until then pool health says which target its advice was for."""
    return service.update_account(database, account_id, body.model_dump(exclude_unset=True))
