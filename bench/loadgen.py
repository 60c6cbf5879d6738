"""A small loopback load generator shared by the labeling benches: N clients, each a thread with its own
session, run a loop of named operations until a time limit or a request budget, whichever comes first.

Each operation returns the server time it reported (``Server-Timing: app;dur=…``) or None; the client-side
latency is measured here. Stats are per operation: count, errors, p50/p95/max of client and server time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def server_time(response: requests.Response) -> float | None:
    header = response.headers.get("Server-Timing", "")
    for part in header.split(","):
        part = part.strip()
        if part.startswith("app;dur="):
            return float(part.split("=", 1)[1])
    return None


def cpu_time(response: requests.Response) -> float | None:
    """The server thread's CPU time for the response (``cpu;dur=``), which a busy machine does not inflate."""
    for part in response.headers.get("Server-Timing", "").split(","):
        part = part.strip()
        if part.startswith("cpu;dur="):
            return float(part.split("=", 1)[1])
    return None


def query_count(response: requests.Response) -> int | None:
    header = response.headers.get("Server-Timing", "")
    for part in header.split(","):
        if 'desc="queries"' in part:
            return int(part.rsplit("=", 1)[1])
    return None


@dataclass
class Stats:
    client_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    queries: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, client_ms: float, response: requests.Response | None, error: str = "") -> None:
        with self.lock:
            if error:
                self.errors[op].append(error)
                return
            self.client_ms[op].append(client_ms)
            if response is not None:
                server = server_time(response)
                if server is not None:
                    self.server_ms[op].append(server)
                cpu = cpu_time(response)
                if cpu is not None:
                    self.cpu_ms[op].append(cpu)
                count = query_count(response)
                if count is not None:
                    self.queries[op].append(count)

    def summary(self, seconds: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for op in sorted(set(self.client_ms) | set(self.errors)):
            client = self.client_ms.get(op, [])
            server = self.server_ms.get(op, [])
            queries = self.queries.get(op, [])
            out[op] = {
                "count": len(client),
                "errors": len(self.errors.get(op, [])),
                "per_s": round(len(client) / seconds, 1),
                "client_p50": round(percentile(client, 0.5), 1),
                "client_p95": round(percentile(client, 0.95), 1),
                "server_p50": round(percentile(server, 0.5), 1) if server else None,
                "server_p95": round(percentile(server, 0.95), 1) if server else None,
                "server_max": round(max(server), 1) if server else None,
                "server_cpu_p50": round(percentile(cpu, 0.5), 1) if (cpu := self.cpu_ms.get(op)) else None,
                "queries": dict(sorted(Counter(queries).items())) if queries else None,  # count → requests
                "first_error": (self.errors.get(op) or [""])[0][:200],
            }
        return out


Operation = Callable[[requests.Session, Stats], bool]  # False: this client has nothing more to do


def run(clients: list[requests.Session], loop: Operation, *, seconds: float, max_requests: int) -> tuple[Stats, float]:
    stats = Stats()
    stop_at = time.monotonic() + seconds
    budget = [max_requests]
    budget_lock = threading.Lock()

    def take() -> bool:
        with budget_lock:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return True

    def client(session: requests.Session) -> None:
        while time.monotonic() < stop_at and take():
            try:
                if not loop(session, stats):
                    return
            except requests.RequestException as error:
                stats.record("transport", 0, None, str(error))

    threads = [threading.Thread(target=client, args=(s,), daemon=True) for s in clients]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return stats, time.monotonic() - start


def timed(
    stats: Stats, op: str, call: Callable[[], requests.Response], ok: tuple[int, ...]
) -> requests.Response | None:
    start = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code not in ok:
        stats.record(op, elapsed, None, f"{response.status_code} {response.text[:200]}")
        return None
    stats.record(op, elapsed, response)
    return response


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
