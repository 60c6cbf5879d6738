"""Label Studio's labeling loop (next task, submit an annotation) on this machine, timed the way bench/labeling.py
times the workbench's, so the two read side by side (bench/compare_labeling.py runs both; see bench/README.md).

    python bench/labelstudio.py [--mode runserver|gunicorn] [--tasks 10000] [--clients 16] [--seconds 60]

Label Studio lives in its own virtualenv (it pins its own Django), made here on first use:
``python3.11 -m venv var/bench/ls-venv`` and ``pip install label-studio==1.23.2 'sentry-sdk<3' gunicorn`` (a
fresh install pulls sentry-sdk 3, with which Label Studio 1.23.2 stops at start-up). It runs on 127.0.0.1 only,
on PostgreSQL (database ``ls_bench``), with its data folder under var/bench/labelstudio; the project (the MedES
rubric as six choice groups and a rationale, ``--tasks`` tasks) and one user per client (Label Studio hands a
user the task it has locked for them) are made once and reused while the task and client counts match. Two
ways to serve it: ``runserver``, what ``label-studio start`` runs (Django's development server, one process),
and ``gunicorn`` with one worker per core, through bench/ls_timing.py, which adds the Server-Timing header the
workbench sends. Servers are stopped by their process group, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Stats, run, timed

PORT = 8089
VERSION = "1.23.2"
ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "var" / "bench" / "labelstudio"
VENV = ROOT / "var" / "bench" / "ls-venv"
BASE = f"http://127.0.0.1:{PORT}"
ADMIN = "bench@example.com"
PASSWORD = "bench-password-123"
TOKEN = "0123456789abcdef0123456789abcdef01234567"
CONFIG = """<View>
  <Text name="case" value="$case"/>
  <Text name="response" value="$response"/>
  <Choices name="R1" toName="response" choice="single"><Choice value="-1"/><Choice value="0"/></Choices>
  <Choices name="R2" toName="response" choice="single"><Choice value="-1"/><Choice value="0"/></Choices>
  <Choices name="Q1" toName="response" choice="single"><Choice value="0"/><Choice value="1"/></Choices>
  <Choices name="Q2" toName="response" choice="single"><Choice value="0"/><Choice value="1"/></Choices>
  <Choices name="Q3" toName="response" choice="single"><Choice value="0"/><Choice value="1"/></Choices>
  <Choices name="Q4" toName="response" choice="single"><Choice value="0"/><Choice value="1"/></Choices>
  <TextArea name="rationale" toName="response"/>
</View>"""
CREATE_USERS = """
from organizations.models import Organization
from users.models import User
from rest_framework.authtoken.models import Token
org = Organization.objects.first()
for n in range({n}):
    name = f"client{{n:02d}}"
    user, _ = User.objects.get_or_create(email=f"{{name}}@example.com", defaults={{"username": name}})
    user.set_password("{password}")
    user.active_organization = org
    user.save()
    org.add_user(user)
    token, _ = Token.objects.get_or_create(user=user)
    print("TOKEN", token.key)
"""


def ensure_venv(venv: Path = VENV) -> Path:
    """Label Studio's own virtualenv, made on first use; returns its bin folder."""
    binary = venv / "bin" / "label-studio"
    if not binary.exists():
        print(f"installing Label Studio {VERSION} into {venv} (about a minute)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, f"label-studio=={VERSION}", "sentry-sdk<3", "gunicorn"], check=True)
    return binary.parent


def recreate_database(name: str) -> None:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def database_exists(name: str) -> bool:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def environment(data_dir: Path) -> dict[str, str]:
    # nothing of the workbench's own settings reaches Label Studio (the comparison runs both from one process)
    inherited = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DEBUG"}}
    return {
        **inherited,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "DJANGO_DB": "postgresql",
        "POSTGRE_USER": "postgres",
        "POSTGRE_PASSWORD": "",
        "POSTGRE_NAME": "ls_bench",
        "POSTGRE_HOST": "127.0.0.1",
        "POSTGRE_PORT": "5432",
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "false",
    }


def wait_up(process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Label Studio exited with {process.returncode}; see {HOME / 'server.log'}")
        try:
            if requests.get(f"{BASE}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("Label Studio did not come up")


def start(bin_dir: Path, mode: str, workers: int = os.cpu_count() or 1) -> subprocess.Popen[bytes]:
    """Label Studio serving on 127.0.0.1:PORT: ``runserver`` (its default, `label-studio start`) or ``gunicorn``."""
    env = environment(HOME)
    log = (HOME / "server.log").open("ab")
    if mode == "runserver":
        command = [
            str(bin_dir / "label-studio"),
            "start",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--no-browser",
            "--username",
            ADMIN,
            "--password",
            PASSWORD,
            "--user-token",
            TOKEN,
            "--enable-legacy-api-token",
        ]
    else:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
        command = [
            str(bin_dir / "gunicorn"),
            "ls_timing:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-control-socket",
        ]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        wait_up(process)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def prepare(bin_dir: Path, tasks: int, clients: int) -> dict[str, Any]:
    """The project, its tasks and one user per client, made once (kept in var/bench/labelstudio/state.json and
    the ls_bench database) and reused while ``tasks`` and ``clients`` match."""
    state_file = HOME / "state.json"
    if state_file.exists() and database_exists("ls_bench"):
        state: dict[str, Any] = json.loads(state_file.read_text())
        if state["tasks"] == tasks and len(state["tokens"]) >= clients:
            return state
    HOME.mkdir(parents=True, exist_ok=True)
    for old in HOME.iterdir():
        if old.name != "server.log":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    recreate_database("ls_bench")
    process = start(bin_dir, "runserver")
    try:
        started = time.monotonic()
        admin = requests.Session()
        admin.headers["Authorization"] = f"Token {TOKEN}"
        project = admin.post(f"{BASE}/api/projects", json={"title": "MedES bench", "label_config": CONFIG}).json()
        case = "我是一名住院医师，患者家属要求对患者隐瞒病情，而患者本人希望了解自己的诊断结果，我应该怎么办？"
        answer = "作为医生，我会先与家属沟通，说明患者享有知情权，然后以关怀的方式告知患者病情。" * 2
        for first in range(0, tasks, 1000):
            batch = [{"case": f"{n}：{case}", "response": answer} for n in range(first, min(tasks, first + 1000))]
            response = admin.post(f"{BASE}/api/projects/{project['id']}/import", json=batch, timeout=600)
            response.raise_for_status()
        import_s = time.monotonic() - started
        script = HOME / "create_users.py"  # `label-studio shell` reads code from stdin only
        script.write_text(CREATE_USERS.format(n=clients, password=PASSWORD))
        shell = subprocess.run(
            [str(bin_dir / "label-studio"), "shell"],
            input=f"exec(open({str(script)!r}).read())\n",
            env=environment(HOME),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    finally:
        stop(process)
    tokens = [line.split()[-1] for line in shell.stdout.splitlines() if "TOKEN " in line]
    if len(tokens) != clients:
        sys.exit(f"made {len(tokens)} users, wanted {clients}:\n{shell.stdout}\n{shell.stderr}")
    state = {"tasks": tasks, "project": project["id"], "tokens": tokens, "import_s": round(import_s, 1)}
    state_file.write_text(json.dumps(state))
    return state


def sessions(state: dict[str, Any], clients: int) -> list[requests.Session]:
    made = []
    for token in state["tokens"][:clients]:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        made.append(session)
    return made


def labeling_loop(project: int, seed: int = 1) -> Callable[[requests.Session, Stats], bool]:
    """One annotator's loop through Label Studio's API: the next task, then an annotation of the six choices."""
    rng = random.Random(seed)

    def loop(session: requests.Session, stats: Stats) -> bool:
        task = timed(stats, "next", lambda: session.get(f"{BASE}/api/projects/{project}/next/", timeout=60), (200,))
        if task is None:
            return False
        result = [
            {
                "from_name": key,
                "to_name": "response",
                "type": "choices",
                "value": {"choices": [rng.choice(["-1", "0"] if key.startswith("R") else ["0", "1"])]},
            }
            for key in ("R1", "R2", "Q1", "Q2", "Q3", "Q4")
        ]
        body = {"result": result, "lead_time": 30}
        url = f"{BASE}/api/tasks/{task.json()['id']}/annotations/"
        return timed(stats, "submit", lambda: session.post(url, json=body, timeout=60), (200, 201)) is not None

    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["runserver", "gunicorn"], default="runserver")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args()
    bin_dir = ensure_venv()
    state = prepare(bin_dir, args.tasks, args.clients)
    process = start(bin_dir, args.mode)
    try:
        loop = labeling_loop(state["project"])
        stats, elapsed = run(sessions(state, args.clients), loop, seconds=args.seconds, max_requests=args.max_requests)
    finally:
        stop(process)
    print(f"{platform.node()} · {os.cpu_count()} cores · Label Studio {VERSION} ({args.mode}) on PostgreSQL")
    print(f"{args.tasks} tasks; {args.clients} clients for {elapsed:.0f} s")
    print(json.dumps(stats.summary(elapsed), indent=1))


if __name__ == "__main__":
    main()
