"""The export lifecycle: which command may start from which status, and the legal
moves between statuses."""

from __future__ import annotations

from domain.exports.values import Status

# The lifecycle, as the set of states each command may start from.
ALLOWED_FROM: dict[str, frozenset[Status]] = {
    "start processing": frozenset({Status.QUEUED}),
    "complete": frozenset({Status.PROCESSING}),
    "fail": frozenset({Status.PROCESSING}),
    "retry": frozenset({Status.FAILED}),
    "record a download": frozenset({Status.COMPLETED}),
    "expire": frozenset({Status.COMPLETED}),
    "delete": frozenset(Status) - {Status.DELETED},
    "change the expiry": frozenset({Status.COMPLETED}),
    "place a hold": frozenset(Status) - {Status.DELETED},
}

# Commands an open legal hold refuses: they would end the export's records.
HELD_COMMANDS = frozenset({"expire", "delete"})

ENDING_COMMANDS = frozenset({"expire", "delete"})
"""The commands still allowed once a retention shed the export: they only end it, and
need none of its personal fields (a deletion's reason is refused then)."""

# The lifecycle as moves: from each status, the statuses one command away.
_MOVES: dict[Status, tuple[Status, ...]] = {
    Status.QUEUED: (Status.PROCESSING,),
    Status.PROCESSING: (Status.COMPLETED, Status.FAILED),
    Status.FAILED: (Status.QUEUED,),
    Status.COMPLETED: (Status.EXPIRED,),
}


def lifecycle_path(start: Status, target: Status) -> list[Status] | None:
    """The statuses an export passes through from ``start`` to ``target`` by legal
    moves (shortest first; [] when it is there), or None when none leads there."""
    paths: dict[Status, list[Status]] = {start: []}
    frontier = [start]
    while frontier:
        status = frontier.pop(0)
        if status == target:
            return paths[status]
        for following in _MOVES.get(status, ()):
            if following not in paths:
                paths[following] = [*paths[status], following]
                frontier.append(following)
    return None
