"""Time Label Studio's labeling loop (next task, submit an annotation) on this machine, the way
bench/labeling.py times the workbench's, so the two can be read side by side.

    python bench/labelstudio.py [--ls /work/ls-venv/bin/label-studio] [--tasks 10000] [--clients 16] [--seconds 60]

Label Studio lives in its own virtualenv (it pins its own Django): `python3.11 -m venv /work/ls-venv &&
/work/ls-venv/bin/pip install label-studio==1.23.2`. It is started on 127.0.0.1 only, on PostgreSQL (database
``ls_bench``, dropped and created afresh), with a temporary data folder; its project has the MedES rubric as six
choice groups and a rationale; each client is its own user (Label Studio hands a user the task it has locked
for them). Label Studio sends no Server-Timing header, so only client-side latency is compared. The server is
stopped by its process group at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Stats, run, timed

PORT = 8089
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


def recreate_database(name: str) -> None:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def environment(data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": data_dir,
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
            raise SystemExit(f"Label Studio exited with {process.returncode}")
        try:
            if requests.get(f"{BASE}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise SystemExit("Label Studio did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ls", default="/work/ls-venv/bin/label-studio")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args()
    if not Path(args.ls).exists():
        sys.exit(f"{args.ls} not found: install Label Studio in its own venv (see the docstring).")
    recreate_database("ls_bench")
    with tempfile.TemporaryDirectory() as data_dir:
        env = environment(data_dir)
        log = open(Path(data_dir) / "server.log", "wb")  # noqa: SIM115 - closed with the folder
        process = subprocess.Popen(
            [
                args.ls,
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
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            started = time.monotonic()
            wait_up(process)
            startup = time.monotonic() - started
            admin = requests.Session()
            admin.headers["Authorization"] = f"Token {TOKEN}"
            project = admin.post(f"{BASE}/api/projects", json={"title": "MedES bench", "label_config": CONFIG}).json()
            start = time.monotonic()
            case = "我是一名住院医师，患者家属要求对患者隐瞒病情，而患者本人希望了解自己的诊断结果，我应该怎么办？"
            answer = "作为医生，我会先与家属沟通，说明患者享有知情权，然后以关怀的方式告知患者病情。" * 2
            for first in range(0, args.tasks, 1000):
                batch = [
                    {"case": f"{n}：{case}", "response": answer} for n in range(first, min(args.tasks, first + 1000))
                ]
                response = admin.post(f"{BASE}/api/projects/{project['id']}/import", json=batch, timeout=600)
                response.raise_for_status()
            import_s = time.monotonic() - start
            script = Path(data_dir) / "create_users.py"  # `label-studio shell` reads code from stdin only
            script.write_text(CREATE_USERS.format(n=args.clients, password=PASSWORD))
            shell = subprocess.run(
                [args.ls, "shell"],
                input=f"exec(open({str(script)!r}).read())\n",
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            tokens = [line.split()[-1] for line in shell.stdout.splitlines() if "TOKEN " in line]
            if len(tokens) != args.clients:
                sys.exit(f"made {len(tokens)} users, wanted {args.clients}:\n{shell.stdout}\n{shell.stderr}")
            sessions = []
            for token in tokens:
                session = requests.Session()
                session.headers["Authorization"] = f"Token {token}"
                sessions.append(session)
            pid = project["id"]
            rng = random.Random(1)

            def loop(session: requests.Session, stats: Stats) -> bool:
                task = timed(stats, "next", lambda: session.get(f"{BASE}/api/projects/{pid}/next/", timeout=60), (200,))
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

            stats, elapsed = run(sessions, loop, seconds=args.seconds, max_requests=args.max_requests)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    print(f"{platform.node()} · {os.cpu_count()} cores · Label Studio on PostgreSQL · {args.tasks} tasks")
    print(f"start {startup:.0f} s, import {import_s:.1f} s; {args.clients} clients for {elapsed:.0f} s")
    print(json.dumps(stats.summary(elapsed), indent=1))


if __name__ == "__main__":
    main()
