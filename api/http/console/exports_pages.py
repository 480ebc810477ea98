"""/ui/exports (the history table) and /ui/exports/{export_id} (one export's timeline)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.http.console import timeline
from api.http.console.listing import FORMATS, PAGE_SIZES, STATUSES, ListView
from api.http.console.rendering import render
from api.http.console.session import PageError, UserDep
from api.http.deps import ReadAfter, ReadsDep, ServicesDep, wait_for_read
from api.http.ownership import owned
from api.http.problems import Problem
from api.wiring.witnesses import configured
from projections.reads.read_store import encode_cursor

router = APIRouter(include_in_schema=False)


@router.get("/ui/exports")
def exports_page(
    request: Request, principal: UserDep, reads: ReadsDep, services: ServicesDep
) -> Response:
    view = ListView.parse(request.query_params, principal)
    rows: list[dict[str, object]] = []
    total, exact, next_url = 0, True, ""
    if not view.errors:
        try:  # the list shows every command acknowledged before it was asked for
            wait_for_read(services, reads, ReadAfter(), caller=principal)
        except Problem as problem:
            raise PageError(problem.status, problem.detail) from None
        page = reads.page(principal, view.filters())
        rows = page.rows[: view.limit]
        total, exact = page.total, page.total_exact
        if len(page.rows) > view.limit:
            next_url = view.url(encode_cursor(page.rows[view.limit - 1]))
    return render(
        request,
        "exports.html",
        400 if view.errors else 200,
        title="Exports",
        principal=principal,
        view=view,
        rows=rows,
        total=total,
        total_exact=exact,
        next_url=next_url,
        first_url=view.url() if view.cursor else "",
        statuses=STATUSES,
        formats=FORMATS,
        page_sizes=PAGE_SIZES,
    )


@router.get("/ui/exports/{export_id}")
def export_page(
    export_id: str, request: Request, principal: UserDep, services: ServicesDep
) -> Response:
    ledger = services.ledger
    try:  # the API's own ownership rule: someone else's export is not found
        current = owned(ledger, principal, export_id, include_deleted=True)
    except Problem as problem:
        raise PageError(
            problem.status, "There is no export with that id that you may see."
        ) from None
    history = ledger.history(export_id)
    return render(
        request,
        "export.html",
        title=f"Export {export_id}",
        principal=principal,
        export=current,
        events=timeline.events(history),
        as_of=timeline.as_of(ledger, export_id, request.query_params),
        proof=timeline.proof(
            services.reads,
            export_id,
            configured(services.settings),
            services.settings.witness_quorum,
        ),
    )
