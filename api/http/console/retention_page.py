"""/ui/retention (admins): the retention policies in force, and forms to set and remove
them, through the same ledger commands as /api/retention and the CLI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.http.console import session
from api.http.console.rendering import console_of, redirect, render
from api.http.console.session import AdminDep
from api.http.deps import ServicesDep
from domain.exceptions import InvalidExport, RetentionPolicyNotFound
from domain.exports.values import ExportFormat, Status
from domain.retention.policies import Basis, duration_text

router = APIRouter(include_in_schema=False)
PAGE = "/ui/retention"
_FIELDS = ("after", "basis", "format", "status")
_DONE = {"set": "set", "removed": "removed"}


def _page(
    request: Request, principal: Any, services: Any, status: int = 200, *,
    notice: str = "", error: str = "", form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    policies = [
        {"id": p.policy_id, "after": duration_text(p.after), "basis": str(p.basis),
         "format": p.format, "status": p.status, "set_by": p.set_by,
         "set_at": p.set_at.isoformat(timespec="seconds")}
        for p in services.ledger.retention_policies()
    ]  # fmt: skip
    entered = {k: (form or {}).get(k, "") for k in _FIELDS}
    return render(
        request, "retention.html", status, title="Retention", principal=principal,
        policies=policies, notice=notice, error=error, entered=entered,
        bases=[b.value for b in Basis], formats=[f.value for f in ExportFormat],
        statuses=[s.value for s in Status],
    )  # fmt: skip


@router.get(PAGE)
def retention_page(request: Request, principal: AdminDep, services: ServicesDep) -> Response:
    done, policy = request.query_params.get("done", ""), request.query_params.get("policy", "")
    notice = ""
    if done in _DONE and policy.startswith("ret_") and policy[4:].isalnum():
        notice = f"Retention policy {policy} {_DONE[done]}."
    return _page(request, principal, services, notice=notice)


@router.post(PAGE)
async def set_policy(request: Request, principal: AdminDep, services: ServicesDep) -> Response:
    form = await session.read_form(request)
    session.check_post(console_of(request).csrf_key, request, form)
    if any(field not in form for field in _FIELDS):
        raise session.PageError(400, "The form is incomplete; reload the page and try again.")
    try:
        policy = services.ledger.set_retention(
            after=form["after"].strip(), basis=form["basis"], format=form["format"] or None,
            status=form["status"] or None, actor=principal.user_id,
        )  # fmt: skip
    except InvalidExport as error:
        return _page(request, principal, services, 422, error=f"Refused: {error}", form=form)
    return redirect(f"{PAGE}?done=set&policy={policy.policy_id}")


@router.post(PAGE + "/{policy_id}/remove")
async def remove_policy(
    policy_id: str, request: Request, principal: AdminDep, services: ServicesDep
) -> Response:
    form = await session.read_form(request)
    session.check_post(console_of(request).csrf_key, request, form)
    try:
        services.ledger.remove_retention(policy_id, actor=principal.user_id)
    except RetentionPolicyNotFound:
        raise session.PageError(404, f"There is no retention policy {policy_id!r}.") from None
    return redirect(f"{PAGE}?done=removed&policy={policy_id}")
