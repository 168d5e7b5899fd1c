"""The production-mode stack the load and fault runs drive, every part a process of their own.

- ``Postgres``: a PostgreSQL cluster of its own (``initdb`` into a directory, its own port),
  started, stopped and restarted with ``pg_ctl``. As root, the server binaries run as the
  ``postgres`` user (``runuser``), as PostgreSQL refuses to run as root.
- ``Redis``: ``redis-server`` on a port of its own, without persistence (``--save ""``), as a
  child process: stopping it loses what it held, as a Redis without persistence does.
- ``Stack``: the app around them, as the README's production deployment runs it: ``DEBUG=0``,
  collected static files, two daphne processes (two ports; the load generator spreads its
  users over them, as a proxy would), a Celery worker and Celery beat.

A fault run must never disturb the machine's own PostgreSQL and Redis (other work uses them):
everything here starts its own servers and stops only the processes it started, by their id.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, *, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- PostgreSQL --------------------------------------------------------------------------------
def postgres_bindir() -> Path:
    """The newest server installed under /usr/lib/postgresql (Debian), else ``pg_config``'s."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()],
    )
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")


@dataclass
class Postgres:
    """A cluster in ``datadir`` listening on 127.0.0.1:``port`` only (no Unix socket)."""

    datadir: Path
    port: int
    logfile: Path
    bindir: Path = field(default_factory=postgres_bindir)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else cmd

    def _own(self, path: Path) -> None:
        if self.as_root:
            shutil.chown(path, "postgres", "postgres")

    def init(self) -> bool:
        """Create the cluster unless it exists; True when it was created."""
        if (self.datadir / "PG_VERSION").exists():
            return False
        self.datadir.mkdir(parents=True, exist_ok=True)
        # The server runs as postgres: it must reach the directory through its parents.
        for parent in [self.datadir.parent, *self.datadir.parent.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o011)
        self.datadir.chmod(0o700)
        self._own(self.datadir)
        self.logfile.touch()
        self._own(self.logfile)
        log(f"  initdb {self.datadir}")
        subprocess.run(
            self._cmd(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(self.datadir / "postgresql.conf", "a") as conf:
            # As the Debian package's cluster (the machine the figures come from); the port
            # is given at each start.
            conf.write(
                "\n# pipecrm loadtest\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 100\n"
                "shared_buffers = 128MB\n"
                "log_min_messages = warning\n"
                "log_min_error_statement = panic\n"
            )
        return True

    def running(self) -> bool:
        result = subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.datadir), "status"),
            capture_output=True,
            text=True,
        )
        return result.returncode == 0

    def start(self) -> None:
        if self.running():  # left by an interrupted run: the cluster is ours, restart it here
            self.stop("fast")
        subprocess.run(
            self._cmd(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                "60",
                "start",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        if not self.running():
            return
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop"),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres"):
        """Run one statement outside a transaction (CREATE / DROP DATABASE); the rows."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname={database}",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def exists(self, database: str) -> bool:
        rows = self.execute(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
        return bool(rows)


# --- Redis -----------------------------------------------------------------------------------
@dataclass
class Redis:
    port: int
    logfile: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if not server:
            raise RuntimeError("redis-server not found")
        out = open(self.logfile, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.logfile.parent),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: self.ping(), timeout=20, what="redis-server")

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers (a hung server)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


# --- the app's processes ---------------------------------------------------------------------
def random_secret(length: int = 50) -> str:
    alphabet = string.ascii_letters + string.digits + "-_!@%^*+="
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class Service:
    name: str
    cmd: list[str]
    logfile: Path
    env: dict
    process: subprocess.Popen | None = None

    def start(self) -> None:
        out = open(self.logfile, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its children go with it
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process and its children (its process group): no clean-up at all."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(10)
        else:
            # The leader is gone; children it left in its group still go.
            self.signal_group(signal.SIGKILL)
        self.process = None


# daphne's websocket keepalive (README "Production deployment"): a ping every 20 s, and a
# socket whose client has not answered for 30 s is closed (a vanished client frees its slot).
DAPHNE_OPTIONS = ["--ping-interval", "20", "--ping-timeout", "30"]
# The web processes' own settings (README "Production deployment"): a pool of database
# connections each (not for the Celery worker, whose prefork children cannot share one).
WEB_ENV = {"DB_POOL_MAX_SIZE": "32"}
# The Celery worker and beat (one thread per process) keep their connection a minute.
WORKER_ENV = {"DB_CONN_MAX_AGE": "60"}


@dataclass
class Stack:
    """The app in production mode on its own PostgreSQL database and Redis."""

    workdir: Path
    postgres: Postgres
    redis: Redis
    database: str
    web_ports: list[int]
    settings_module: str = "config.settings"
    worker_concurrency: int = 2
    extra_env: dict = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    secret_key: str = field(default_factory=random_secret)

    @property
    def env(self) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            # Only what this run sets decides which engines and hosts are used.
            if k
            not in {
                "CELERY_TASK_ALWAYS_EAGER",
                "CELERY_BROKER_URL",
                "CSRF_TRUSTED_ORIGINS",
                "DATABASE_URL",
                "REDIS_URL",
                "DJANGO_SETTINGS_MODULE",
                "IMPORT_IN_THREAD",
                "REFERENCE_CACHE",
            }
        }
        env.update(
            {
                "DEBUG": "0",
                "SECRET_KEY": self.secret_key,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.postgres.url(self.database),
                "REDIS_URL": self.redis.url(0),
                # Plain HTTP on loopback: no redirect to https (the client sends secure
                # cookies back, as a browser behind the TLS proxy would).
                "SECURE_SSL_REDIRECT": "0",
                "DJANGO_SETTINGS_MODULE": self.settings_module,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.web_ports]

    def manage(self, *args: str, check: bool = True, quiet: bool = False):
        return subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=check,
            stdout=subprocess.DEVNULL if quiet else None,
        )

    def python(self, *args: str, check: bool = True):
        return subprocess.run([PYTHON, *args], cwd=ROOT, env=self.env, check=check)

    def prepare_database(self) -> None:
        log("  migrate")
        self.manage("migrate", "--noinput", "-v", "0")
        log("  collectstatic")
        self.manage("collectstatic", "--noinput", "-v", "0")

    def service(self, name: str) -> Service:
        if name in self.services:
            return self.services[name]
        logfile = self.workdir / f"{name}.log"
        if name.startswith("web"):
            port = self.web_ports[int(name.removeprefix("web")) - 1]
            cmd = [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                *DAPHNE_OPTIONS,
                "config.asgi:application",
            ]
        elif name == "worker":
            cmd = [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.worker_concurrency}",
                "-n",
                f"loadtest-{os.getpid()}@%h",
            ]
        elif name == "beat":
            cmd = [
                str(BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(self.workdir / "celerybeat-schedule"),
            ]
        else:
            raise KeyError(name)
        self.services[name] = Service(name, cmd, logfile, self.service_env(name))
        return self.services[name]

    def service_env(self, name: str) -> dict:
        own = WEB_ENV if name.startswith("web") else WORKER_ENV
        return {**own, **self.env}  # a run's extra_env may still set them

    @property
    def names(self) -> list[str]:
        return [f"web{i}" for i in range(1, len(self.web_ports) + 1)] + ["worker", "beat"]

    def start(self, *names: str) -> None:
        for name in names or self.names:
            service = self.service(name)
            service.env = self.service_env(name)
            service.start()
            log(f"  started {name} (pid {service.pid})")
        for name in names or self.names:
            if name.startswith("web"):
                port = self.web_ports[int(name.removeprefix("web")) - 1]
                wait_until(lambda p=port: port_open(p), timeout=60, what=name)

    def stop(self, *names: str) -> None:
        for name in reversed(names or list(self.services)):
            if name in self.services:
                self.services[name].stop()

    def healthz(self, base: str | None = None, timeout: float = 10) -> tuple[int, dict]:
        import json

        url = (base or self.urls[0]) + "/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def wait_healthy(self, timeout: float = 90) -> None:
        def healthy() -> bool:
            for name, service in self.services.items():
                if not service.alive():
                    raise RuntimeError(f"{name} exited; see {service.logfile}")
            return all(self.healthz(url)[0] == 200 for url in self.urls)

        deadline = time.monotonic() + timeout
        while True:
            try:
                if healthy():
                    return
            except RuntimeError:
                raise
            except Exception:  # noqa: BLE001 - not answering yet
                pass
            if time.monotonic() > deadline:
                status = self.healthz()[1] if port_open(self.web_ports[0]) else "no answer"
                raise RuntimeError(f"/healthz not 200 after {timeout:.0f} s: {status}")
            time.sleep(1)

    def tail(self, lines: int = 40) -> None:
        for service in self.services.values():
            if service.logfile.exists():
                text = service.logfile.read_text(errors="replace").splitlines()[-lines:]
                print(f"\n----- {service.logfile} (last {lines} lines) -----", file=sys.stderr)
                print("\n".join(text), file=sys.stderr)
