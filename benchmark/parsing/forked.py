"""Parses in processes forked from a server that has the parser loaded: multiprocessing's forkserver.

``python -m benchmark.parsing`` (one process per file, see ``benchmark.services``) starts Python and imports
the parser for every file, about 0.1 s of CPU, and a PDF pays 0.15 s more for pdfminer and its CJK character
maps: more than the parse itself of most files. ``import_sources`` parses hundreds of files, so it forks each
parse from a server process that loaded all of that once (``warm``). Each parse still runs in a process of its
own, with its own CPU-time and memory limits (``limit``), and hands back what ``main`` would: the exit status
(0, 3 with the ParseError's message, 1 with the traceback of a crash, or minus the signal that stopped it), the
parse (``to_json``) and what it wrote on stderr.

multiprocessing runs the caller's main module in the server once (``__main__`` is preloaded, as its documentation
advises), so a script that runs the import must keep it under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import traceback
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

from benchmark.parsing import ParseError, limit, parse_file, to_json

STOP_WAIT = 5.0  # seconds a parse that has replied gets to exit before it is killed


@dataclass(frozen=True)
class Reply:
    """What a forked parse handed back, as ``python -m benchmark.parsing`` would: its exit status, the parse
    (status 0) and its stderr (the ParseError's message at status 3, the traceback of a crash)."""

    returncode: int
    result: dict[str, Any] | None
    stderr: str


def parse_forked(path: Path, name: str, title: str, *, cpu_seconds: int, memory_mb: int, timeout: float) -> Reply:
    """Parse the file at ``path`` in a process forked from the server (started on the first call), under the
    limits. Raises TimeoutError (the process killed) when no reply came within ``timeout`` seconds, OSError (or
    EOFError, the server gone) when the process could not be started. Safe to call from several threads at once."""
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(send, str(path), name, title, cpu_seconds, memory_mb), name="parse", daemon=True
    )
    try:
        process.start()
    finally:
        send.close()  # the child holds its own end: its exit reads as the end of the pipe here
    reply: tuple[int, dict[str, Any] | None, str] | None = None
    exitcode: int | None = None
    try:
        if not receive.poll(timeout):
            raise TimeoutError(f"no reply in {timeout} s")
        with contextlib.suppress(EOFError):  # it died without a word: stopped by a signal (its limits)
            reply = receive.recv()
    finally:
        receive.close()
        process.join(STOP_WAIT if reply is not None else 0.1 * STOP_WAIT)
        if process.exitcode is None:
            process.kill()
            process.join()
        exitcode = process.exitcode
        process.close()
    if reply is None:
        return Reply(exitcode if exitcode is not None else 1, None, "")
    return Reply(*reply)


def _child(send: Connection, path: str, name: str, title: str, cpu_seconds: int, memory_mb: int) -> None:
    """In the forked process: apply the limits, parse, send (status, parse, stderr) back."""
    stderr = io.StringIO()
    reply: tuple[int, dict[str, Any] | None, str]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
            limit(cpu_seconds, memory_mb)
            try:
                reply = (0, to_json(parse_file(Path(path).read_bytes(), name, title=title)), "")
            except ParseError as error:
                reply = (3, None, f"{error}\n")
    except MemoryError:  # the parse is gone with its frames: a short reply still fits
        reply = (1, None, f"{stderr.getvalue()}MemoryError\n")
    except BaseException:  # what the interpreter would print of a crash
        reply = (1, None, f"{stderr.getvalue()}{traceback.format_exc()}")
    send.send(reply)
    send.close()


@cache
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # The caller's main module and the warm-up, imported once in the server, are inherited by every fork.
    context.set_forkserver_preload(["__main__", "benchmark.parsing.warm"])
    return context
