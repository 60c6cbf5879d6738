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
the CPU time of the command and its parser processes together (what a busy shared machine does not change).
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
    for backend in args.backends.split(","):
        env = fresh_database(backend, var / "bench_import", args.tree)
        jobs = ["--jobs", args.jobs] if args.jobs else []
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
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        lines = done.stdout.splitlines()
        added = sum(1 for line in lines if "(added" in line)
        print(
            f"{backend:9s} import_sources of {len(files)} files: {seconds:.1f} s "
            f"({len(files) / seconds:.1f} files/s), {cpu_s:.1f} s CPU in all, {added} added, exit {done.returncode} "
            f"[{args.tree}{' --jobs ' + args.jobs if args.jobs else ''}; load {os.getloadavg()[0]:.1f}]"
        )
        if done.returncode != 0:
            print("\n".join(lines[-5:] + done.stderr.splitlines()[-5:]))
        if backend == "postgres" and not args.keep:
            drop_database()
    print("Target (issue 17): under 60 s for 260 sources.")


if __name__ == "__main__":
    main()
