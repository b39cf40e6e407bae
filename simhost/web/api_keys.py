"""A customer's (or an operator's) own API keys: list, make one (the whole key shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from simhost.registry.validate import ValidationError
from simhost.security.apikeys import Principal, create_key, list_keys, revoke_key
from simhost.web.auth import State, principal
from simhost.web.problems import not_found, responses
from simhost.web.schemas import ApiKeyOut

router = APIRouter(prefix="/keys", tags=["keys"], responses=responses(401, 403, 422, 429))
Who = Annotated[Principal, Depends(principal)]


def _holder(who: Principal) -> dict[str, int]:
    return {"customer_id": who.id} if who.kind == "customer" else {"operator_id": who.id}


@router.get("", response_model=list[ApiKeyOut])
def get_keys(who: Who, st: State) -> list[ApiKeyOut]:
    """The caller's API keys, oldest first, revoked ones too (never their secrets)."""
    with st.sessions() as s:
        return [ApiKeyOut.of(k) for k in list_keys(s, **_holder(who))]


@router.post("", status_code=201, response_model=ApiKeyOut)
def make_key(who: Who, st: State) -> ApiKeyOut:
    """A new API key of the caller's; the whole key (`api_key`) is in this answer only."""
    with st.sessions.begin() as s:
        row, whole = create_key(s, **_holder(who))
        return ApiKeyOut.of(row, whole)


@router.delete("/{key_id}", status_code=204, responses=responses(404))
def delete_key(key_id: Annotated[str, Path(max_length=32)], who: Who, st: State) -> Response:
    """Revoke one of the caller's keys at once (revoking twice is no error)."""
    try:
        with st.sessions.begin() as s:
            revoke_key(s, key_id, **_holder(who))
    except ValidationError:
        raise not_found(f"API key {key_id!r}") from None
    return Response(status_code=204)
