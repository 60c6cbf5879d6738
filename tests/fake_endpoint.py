"""An OpenAI-compatible chat-completions server on localhost, for the generator's and the prompt judge's tests
(a real HTTP server, real urllib requests: no mocked network)."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeEndpoint:
    """An OpenAI-compatible /v1/chat/completions on localhost that replies from a queue of canned
    (status, body, extra headers) and remembers every request it got (with its Authorization and Host headers)."""

    def __init__(self) -> None:
        self.replies: deque[tuple[int, Any, dict[str, str]]] = deque()
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen = {"path": self.path, "auth": self.headers.get("Authorization"), "host": self.headers.get("Host")}
                endpoint.requests.append({**seen, **body})
                status, reply, headers = endpoint.replies.popleft() if endpoint.replies else (500, "no reply", {})
                if isinstance(reply, str) and status == 200:
                    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
                data = json.dumps(reply, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def reply(self, content: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, content, headers or {}))

    def close(self) -> None:
        self.server.shutdown()  # within serve_forever's poll interval (0.01 s above; its default, 0.5 s, per test)
        self.server.server_close()


@pytest.fixture
def endpoint(settings: Any) -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint()
    settings.MEDES_GENERATOR_BASE_URL = fake.url
    settings.MEDES_GENERATOR_MODEL = "fake-qwen"
    settings.MEDES_GENERATOR_API_KEY = "sk-test"
    settings.MEDES_GENERATOR_RETRIES = 3
    settings.MEDES_GENERATOR_TIMEOUT = 5
    yield fake
    fake.close()
