"""/ui/ledger (admins): positions and lag, the latest checkpoint, counts by status, and
buttons that run ``rebuild --check`` and ``verify`` in the background."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from api.http.console import charts, session
from api.http.console.jobs import JOB_NAMES
from api.http.console.rendering import console_of, redirect, render
from api.http.console.session import AdminDep
from api.http.deps import ServicesDep
from api.wiring.witnesses import current_report
from projections.importing.sync_status import sync_statuses
from projections.reads.positions import ledger_positions
from projections.reads.sessions import pooled_session
from projections.sinks import store as sinks
from projections.tlog.checkpoints import latest_checkpoint
from sql import query
from sql.names import ADMIN_ROLE, READER_ROLE

router = APIRouter(include_in_schema=False)


@router.get("/ui/ledger")
def seal_page(request: Request, principal: AdminDep, services: ServicesDep) -> Response:
    with pooled_session(services.reads, READER_ROLE) as conn:
        positions = ledger_positions(conn, services.ledger.head_position())
    services.metrics.observe_positions(positions)

    with pooled_session(services.reads, ADMIN_ROLE) as conn:  # an admin, checked above
        checkpoint = latest_checkpoint(conn)
        witnessing = (
            current_report(conn, services.settings, services.projector)
            if services.settings.witnesses
            else None
        )
        syncs = sync_statuses(conn)
        events = charts.hourly_events(conn, datetime.now(UTC))
        lags = [
            ("projection", max(positions.head - positions.projected, 0)),
            ("sealer", max(positions.head - positions.sealed, 0)),
            *((f"sink {s.name}", s.lag(positions.head)) for s in sinks.listed(conn)),
            *((f"witness {w.name}", w.lag) for w in (witnessing.witnesses if witnessing else [])),
        ]

    def count() -> list[tuple[str, int]]:
        with pooled_session(services.reads, ADMIN_ROLE) as conn:
            return conn.execute(query("console", "status_counts")).fetchall()

    counted = console_of(request).status_counts.get(count)
    jobs = console_of(request).jobs
    alive = services.projector_alive()
    running = jobs.running()
    return render(
        request,
        "ledger.html",
        title="Ledger",
        principal=principal,
        positions=positions,
        projector="external" if alive is None else "running" if alive else "stopped",
        checkpoint=checkpoint,
        signature_problem=checkpoint.signature_problem() if checkpoint else None,
        witnessing=witnessing,
        syncs=syncs,
        counts=counted.counts,
        counted_at=counted.at,
        total=sum(exports for _, exports in counted.counts),
        running=running,
        last=jobs.last,
        job_names=JOB_NAMES,
        refresh=running is not None,
        events=events,
        events_svg=charts.hourly_svg(events),
        lags=lags,
        lags_svg=charts.lags_svg(lags),
    )


@router.post("/ui/ledger/jobs")
async def start_job(request: Request, principal: AdminDep, services: ServicesDep) -> Response:
    console = console_of(request)
    form = await session.read_form(request)
    session.check_post(console.csrf_key, request, form)
    name = form.get("job", "")
    if name not in JOB_NAMES:
        raise session.PageError(400, "There is no such job.")
    console.jobs.start(name, services.database)  # a job already running: nothing new starts
    return redirect("/ui/ledger")
