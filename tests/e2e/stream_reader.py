"""A Server-Sent Events reader for the stream tests: httpx and a parser of the wire
format (WHATWG HTML, "Server-sent events": fields, comments, a blank line ends an event)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    id: str | None = None
    data: list[str] = field(default_factory=list)
    retry: int | None = None

    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads("\n".join(self.data))
        return found


def messages(lines: Iterator[str], comments: list[str] | None = None) -> Iterator[Message]:
    """The events of a stream's lines (comments go to ``comments``)."""
    current = Message()
    for line in lines:
        if line == "":
            if current.data or current.id is not None:
                yield current
            current = Message()
            continue
        if line.startswith(":"):
            if comments is not None:
                comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            current.data.append(value)
        elif name == "id":
            current.id = value
        elif name == "retry" and value.isdigit():
            current.retry = int(value)


class Reader:
    """Reads a stream in a thread; its CloudEvents arrive on ``events``."""

    def __init__(self, url: str, headers: dict[str, str], **options: Any) -> None:
        self.url, self.headers, self.options = url, headers, options
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.comments: list[str] = []
        self.opened = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="sse-reader")

    def __enter__(self) -> Reader:
        self.thread.start()
        assert self.opened.wait(30), "the stream did not open"
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        timeout = httpx.Timeout(10, read=30)
        with (
            httpx.Client(timeout=timeout, **self.options) as client,
            client.stream("GET", self.url, headers=self.headers) as response,
        ):
            assert response.status_code == 200, response.read()
            self.opened.set()
            for message in messages(self._lines(response), self.comments):
                self.events.put(message.event())

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        """The stream's lines until told to stop (heartbeats keep them coming)."""
        for line in response.iter_lines():
            if self.stop.is_set():
                return
            yield line

    def take(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        return [self.events.get(timeout=timeout) for _ in range(count)]
