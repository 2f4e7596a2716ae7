"""A webhook receiver on loopback for tests: records every request, answers 500 to the first ``fail_first``
requests (or while ``failing`` is set), and processes each event id once, as Standard Webhooks asks receivers to."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def message(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    fail_first: int = 0
    failing: bool = False
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, Received] = field(default_factory=dict)
    """Event id → the request that was processed (the first successful one); duplicates are only acknowledged."""
    duplicates: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, received: Received) -> int:
        with self._lock:
            self.requests.append(received)
            if self.failing or len(self.requests) <= self.fail_first:
                return 500
            if received.event_id in self.processed:
                self.duplicates += 1
            else:
                self.processed[received.event_id] = received
            return 204


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        status = self.receiver.answer(Received({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        handler = type("Handler", (_Handler,), {"receiver": receiver})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sbt-webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ReceiverServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
