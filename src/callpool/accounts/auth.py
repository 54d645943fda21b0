"""The API's caller: an account, found from ``Authorization: Bearer <api key>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callpool.accounts.service import account_for_key
from callpool.db import Database

bearer = HTTPBearer(auto_error=False, description="An API key of your account")


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def current_account_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> int:
    if credentials is None:
        raise HTTPException(401, "missing API key: send Authorization: Bearer <key>")
    account_id = account_for_key(get_database(request), credentials.credentials)
    if account_id is None:
        raise HTTPException(401, "invalid or revoked API key")
    return account_id


AccountId = Annotated[int, Depends(current_account_id)]
DatabaseDep = Annotated[Database, Depends(get_database)]
