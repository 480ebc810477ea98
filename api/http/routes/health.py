"""/healthz (the process is up) and /readyz (it can serve requests)."""

from __future__ import annotations

from typing import Literal

import psycopg
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.http import problems
from api.http.deps import Services, ServicesDep, known_query_only
from api.http.problems import unavailable
from api.wiring.witnesses import current_report
from projections.projector import process_name
from projections.reads.sessions import pooled_session
from projections.sinks import store as sink_store
from sql.names import ADMIN_ROLE, READER_ROLE


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: Literal["ok"] = "ok"


class ProjectionStatus(BaseModel):
    position: int = Field(description="Log position the read table includes.")
    head: int = Field(description="Latest log position.")
    lag: int = Field(description="Events not yet in the read table.")
    projector: Literal["running", "stopped", "external"]
    projected_by: str | None = Field(
        default=None,
        description="The process (host:pid) that follows and seals the log, when known: "
        "this one, or the holder of the projector lock.",
    )
    process: str | None = Field(default=None, description="This server process (host:pid).")


class ReplicaState(BaseModel):
    name: str = Field(description="replica-1, replica-2, ... in the configured order.")
    state: Literal["ok", "down"] = Field(
        description="ok: in the read rotation; down: reads go elsewhere until it answers again."
    )
    position: int | None = Field(description="Log position its read table includes.")
    lag: int | None = Field(description="Events the replica's read table is behind the head.")


class WitnessStatus(BaseModel):
    name: str = Field(description="The witness's key name.")
    cosigned_size: int = Field(description="The largest checkpoint it cosigned (0: none).")
    lag: int = Field(description="Leaves of the latest checkpoint it has not cosigned.")
    error: str | None = Field(
        default=None, description="What it last answered, if not a cosignature."
    )


class Witnessing(BaseModel):
    tree_size: int = Field(description="The latest C2SP checkpoint's size (0: none).")
    quorum: int = Field(
        description="How many witnesses must cosign (EXPORT_LEDGER_WITNESS_QUORUM)."
    )
    witnessed: bool = Field(description="Whether the latest checkpoint has that many cosignatures.")
    witnesses: list[WitnessStatus]


class SinkStatus(BaseModel):
    name: str
    state: Literal["active", "paused", "failing"]
    lag: int = Field(description="Positions after the sink's cursor up to the head.")
    attempts: int = Field(description="Failed attempts of its current batch.")


class Ready(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "database": "ok",
                    "migrations": "applied",
                    "projection": {"position": 17, "head": 17, "lag": 0, "projector": "running"},
                    "replicas": [{"name": "replica-1", "state": "ok", "position": 17, "lag": 0}],
                }
            ]
        }
    )
    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"
    migrations: Literal["applied"] = "applied"
    projection: ProjectionStatus
    replicas: list[ReplicaState] = Field(
        default_factory=list, description="Read replicas (EXPORT_LEDGER_READ_DATABASE_URLS)."
    )
    witnessing: Witnessing | None = Field(
        default=None,
        description="The witnesses (EXPORT_LEDGER_WITNESSES); a witness that is behind or down "
        "does not make the service unready.",
    )
    sinks: list[SinkStatus] = Field(
        default_factory=list,
        description="The webhook sinks; a failing or lagging sink does not make the service "
        "unready.",
    )


router = APIRouter(tags=["health"], dependencies=[Depends(known_query_only)])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Ready,
    summary="The database answers, migrations are applied; projection lag",
    responses=problems.responses(503),
)
def readyz(services: ServicesDep) -> Ready:
    readiness = services.reads.readiness()
    if not readiness.migrated:
        raise unavailable("the database is not migrated: run 'export-ledger migrate'")
    head = services.ledger.head_position()
    alive = services.projector_alive()
    projector: Literal["running", "stopped", "external"] = (
        "external" if alive is None else "running" if alive else "stopped"
    )
    return Ready(
        projection=ProjectionStatus(
            position=readiness.position,
            head=head,
            lag=max(head - readiness.position, 0),
            projector=projector,
            projected_by=services.projected_by(),
            process=process_name(),
        ),
        replicas=[
            ReplicaState(
                name=replica.name,
                state=replica.state,
                position=replica.position,
                lag=None if replica.position is None else max(head - replica.position, 0),
            )
            for replica in services.reads.replicas.statuses()
        ],
        witnessing=_witnessing(services),
        sinks=_sinks(services, head),
    )


def _sinks(services: Services, head: int) -> list[SinkStatus]:
    try:
        found = _listed_sinks(services)
    except psycopg.OperationalError:  # a pooled connection the server ended: once more
        found = _listed_sinks(services)
    return [
        SinkStatus.model_validate(
            {"name": s.name, "state": s.state, "lag": s.lag(head), "attempts": s.attempts}
        )
        for s in found
    ]


def _listed_sinks(services: Services) -> list[sink_store.SinkState]:
    with pooled_session(services.reads, ADMIN_ROLE) as conn:
        return sink_store.listed(conn)


def _witnessing(services: Services) -> Witnessing | None:
    if not services.settings.witnesses:
        return None
    with pooled_session(services.reads, READER_ROLE) as conn:
        found = current_report(conn, services.settings, services.projector)
    return Witnessing(
        tree_size=found.tree_size,
        quorum=found.quorum,
        witnessed=found.witnessed,
        witnesses=[
            WitnessStatus(name=w.name, cosigned_size=w.cosigned_size, lag=w.lag, error=w.error)
            for w in found.witnesses
        ],
    )
