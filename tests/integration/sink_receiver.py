"""A local webhook receiver for the sink tests: it checks every request's signature with
the ``standardwebhooks`` library and can fail, hang past the sender's timeout, or be down."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    ids: list[int]
    events: list[dict[str, Any]]
    answered: int


@dataclass
class Receiver:
    secret: str = ""
    fail_ratio: float = 0.0
    hang_ratio: float = 0.0
    hang_seconds: float = 1.0
    seed: int = 7
    requests: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def answer(self) -> str:
        with self.lock:
            draw = self.random.random()
        if draw < self.hang_ratio:
            return "hang"
        return "fail" if draw < self.hang_ratio + self.fail_ratio else "ok"

    def delivered_ids(self) -> list[int]:
        """The event ids acknowledged with a 2xx, first delivery of each, in arrival order."""
        seen: set[int] = set()
        found = []
        with self.lock:
            for request in self.requests:
                if request.answered != 200:
                    continue
                for event_id in request.ids:
                    if event_id not in seen:
                        seen.add(event_id)
                        found.append(event_id)
        return found

    def all_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for r in self.requests if r.answered == 200 for e in r.events]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                Webhook(receiver.secret).verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                with receiver.lock:
                    receiver.bad_signatures += 1
                self._reply(401)
                return
            answer = receiver.answer()
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
            status = 200 if answer == "ok" else 500
            events = json.loads(body)
            ids = [int(e["id"]) for e in events]
            answered = status if answer != "hang" else 0
            received = Received(self.headers["webhook-id"], ids, events, answered)
            with receiver.lock:
                receiver.requests.append(received)
            self._reply(status)

        def _reply(self, status: int) -> None:
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting

    return Handler


@contextmanager
def receiving(receiver: Receiver, port: int = 0) -> Iterator[str]:
    """The receiver on loopback until the block ends; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="sink-receiver")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
