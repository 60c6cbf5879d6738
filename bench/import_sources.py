"""``manage.py import_sources`` on a folder of 260 sources, on SQLite and on PostgreSQL.

    python bench/import_sources.py [--sources 260] [--backends sqlite,postgres] [--rebuild]

Issue 17 (item 4) asks for a folder of 260 sources imported in under 60 s, with a progress bar. The folder is
built once (under ``$MEDES_VAR_DIR/bench_sources/``) from the six shipped laws (``benchmark/demo/laws/``, the same
texts as ``../shared/data/laws/``), each copy with a title of its own (``中华人民共和国医师法（第17份）``) so that
no two files have the same bytes or the same title, in turn as Markdown, plain text, HTML, DOCX and PDF (the
PDF and DOCX as ``tests/documents.py`` prints them: running headers, page numbers, Word headings).

Each backend gets a fresh database (``$MEDES_VAR_DIR/bench_import/db.sqlite3``; PostgreSQL: the database named
by ``BENCH_DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/medes_j``, dropped and created again), is
migrated, then the command runs as a user runs it, in its own process. Printed: the command's wall time, and
the CPU time of the command and every process it started (what a busy shared machine does not change): the
parses are forked from a server process (``benchmark.parsing.forked``) that outlives the command by a moment, so
this script makes itself their subreaper (Linux ``PR_SET_CHILD_SUBREAPER``) and waits for them too; on
PostgreSQL the CPU of the server's backend for the command's connection is added (``pg_stat_activity`` and
``/proc``, when the server runs on this machine).
``--tree DIR`` runs the command of another checkout (e.g. ``git archive HEAD | tar -x -C DIR``: the code
before a change) with this one's virtual environment, for a before/after on the same machine and folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAWS = sorted((ROOT / "benchmark" / "demo" / "laws").glob("*(*).md"))
FORMATS = (".md", ".txt", ".html", ".docx", ".pdf")
TITLE = re.compile(r"^# (.+)$", re.MULTILINE)


def build_folder(folder: Path, count: int) -> None:
    """``count`` sources: law k % 6, format k % 5 (so every law comes in every format), each retitled."""
    from tests.documents import law_to_docx, law_to_html, law_to_pdf

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        law = LAWS[k % len(LAWS)]
        suffix = FORMATS[k % len(FORMATS)]
        path = folder / f"{k:03d}-{law.stem}{suffix}"
        if path.exists():
            continue
        text = law.read_text(encoding="utf-8")
        title = TITLE.search(text)
        assert title is not None, law
        markdown = f"{text[: title.end()]}（第{k + 1}份）{text[title.end() :]}"
        if suffix == ".md":
            path.write_text(markdown, encoding="utf-8")
        elif suffix == ".txt":  # the title on the first line, then the text as it reads
            path.write_text(re.sub(r"^#+ |^<!--.*-->$", "", markdown, flags=re.MULTILINE), encoding="utf-8")
        elif suffix == ".html":
            path.write_text(law_to_html(markdown), encoding="utf-8")
        elif suffix == ".docx":
            path.write_bytes(law_to_docx(markdown))
        else:
            path.write_bytes(law_to_pdf(markdown))


def fresh_database(backend: str, var_dir: Path, tree: Path) -> dict[str, str]:
    """The environment for a command against an empty, migrated database of ``backend``."""
    env = {**os.environ, "MEDES_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "medes_site.settings"}
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    if backend == "postgres":
        url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/medes_j")
        name = urlsplit(url).path.lstrip("/")
        if name in {"", "postgres", "test", "medes_bench"}:
            raise SystemExit(f"Refusing to drop the database {name!r}; name a throw-away one.")
        import psycopg

        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = url
    else:
        env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=tree, env=env, check=True)
    return env


def drop_database() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/medes_j")
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}"')


def become_subreaper() -> bool:
    """Have the processes the command leaves behind (the parse server, its forks) reparented to this one, so that
    ``wait_for_orphans`` counts their CPU time. Linux only; elsewhere the parses' time is missed."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_child_subreaper = 36
    return bool(ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0)


def wait_for_orphans() -> None:
    """Wait for every process left to this one (the parse server exits when the command has)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


class BackendCpu(threading.Thread):
    """The CPU time of the PostgreSQL backends serving the bench database while the command runs, read from
    ``/proc`` every ``period`` seconds (the last reading of a backend counts: up to a period of it is missed).
    Zero where the server is not on this machine."""

    def __init__(self, url: str, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.url, self.period = url, period
        self.ticks: dict[int, int] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            own = connection.info.backend_pid
            while not self.stopped.is_set():
                rows = connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s", [own]
                ).fetchall()
                for (pid,) in rows:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
                self.stopped.wait(self.period)

    def seconds(self) -> float:
        self.stopped.set()
        self.join()
        return sum(self.ticks.values()) / float(os.sysconf("SC_CLK_TCK"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=260)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--rebuild", action="store_true", help="build the folder of sources again")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose manage.py runs")
    parser.add_argument("--jobs", default="", help="passed to the command as --jobs (default: its own)")
    args = parser.parse_args()
    var = Path(os.environ.get("MEDES_VAR_DIR", ROOT / "var"))
    folder = var / "bench_sources" / str(args.sources)
    if args.rebuild and folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    build_folder(folder, args.sources)
    files = sorted(folder.iterdir())
    by_format = {suffix: sum(1 for f in files if f.suffix == suffix) for suffix in FORMATS}
    size = sum(f.stat().st_size for f in files)
    print(
        f"{len(files)} sources ({', '.join(f'{n} {s[1:]}' for s, n in by_format.items())}; {size / 1e6:.1f} MB) "
        f"in {folder} (built in {time.perf_counter() - started:.1f} s); {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    reaping = become_subreaper()
    for backend in args.backends.split(","):
        env = fresh_database(backend, var / "bench_import", args.tree)
        jobs = ["--jobs", args.jobs] if args.jobs else []
        server = BackendCpu(env["DATABASE_URL"]) if backend == "postgres" else None
        if server is not None:
            server.start()
        wait_for_orphans()
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "manage.py", "import_sources", str(folder), "--kind", "law", *jobs],
            cwd=args.tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        server_s = server.seconds() if server is not None else 0.0
        wait_for_orphans()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        lines = done.stdout.splitlines()
        added = sum(1 for line in lines if "(added" in line)
        print(
            f"{backend:9s} import_sources of {len(files)} files: {seconds:.1f} s "
            f"({len(files) / seconds:.1f} files/s), {cpu_s:.1f} s CPU in all"
            f"{'' if reaping else ' (the forked parses not counted)'}"
            f"{f' + {server_s:.1f} s of the database server' if server is not None else ''}, {added} added, "
            f"exit {done.returncode} [{args.tree}{' --jobs ' + args.jobs if args.jobs else ''}; "
            f"load {os.getloadavg()[0]:.1f}]"
        )
        if done.returncode != 0:
            print("\n".join(lines[-5:] + done.stderr.splitlines()[-5:]))
        if backend == "postgres" and not args.keep:
            drop_database()
    print("Target (issue 17): under 60 s for 260 sources.")


if __name__ == "__main__":
    main()
