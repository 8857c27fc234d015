"""A real, throwaway PostgreSQL server for the tests (Debian's binaries, ``make postgres-deps``).

``PostgresServer`` runs ``initdb`` into a fresh folder under /tmp and starts ``postgres`` on
127.0.0.1 and a free port, its unix socket in that folder, with fsync, full_page_writes and
synchronous_commit off (a test database need not survive a crash). It makes a login role
with a password and a database ``catalogue`` it owns, so ``.url`` has the usual form
``postgresql://USER:PASSWORD@127.0.0.1:PORT/catalogue`` (the password is checked: TCP
connections use scram-sha-256). ``fresh_database()`` makes another empty database on the
same server, cheaply, for a test that wants one of its own.

``initdb`` refuses to run as root, so as root the server runs as the unprivileged user
``postgres`` (Debian's package makes it), else ``nobody``. Each instance has its own folder
and port, so pytest-xdist processes each start their own. Clean-up: ``stop()`` (fixture
teardown; also ``with PostgresServer() as pg``), an atexit hook for servers left running,
the parent-death signal (``setpriv --pdeathsig``: the postmaster shuts down when the process
that started it dies, even by SIGKILL), and folders left by dead test processes are removed
by the next start.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import psycopg
from psycopg import sql

DIR_PREFIX = "pipeline-postgres-test-"
ADMIN = "postgres"  # the bootstrap superuser; it logs in over the unix socket only (trust)
USER = "catalogue"
DATABASE = "catalogue"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "jit": "off",
}

_live: set[PostgresServer] = set()
_live_lock = threading.Lock()


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server did not start; the message says why."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and postgres."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bin_dir = Path(initdb).parent
        version = bin_dir.parent.name
        if (bin_dir / "postgres").is_file() and re.fullmatch(r"\d+(\.\d+)*", version):
            found.append((tuple(int(part) for part in version.split(".")), bin_dir))
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: "
            "install Debian's postgresql package (make postgres-deps)")
    return max(found)[1]


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """Whom to run initdb and postgres as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and there is no user `postgres` or `nobody` to run PostgreSQL as")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def remove_stale_dirs(tmp_root: Path | None = None) -> list[Path]:
    """Remove the folders (and stop the servers) of test processes that died without cleaning up."""
    removed = []
    for folder in Path(tmp_root or tempfile.gettempdir()).glob(DIR_PREFIX + "*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            # no owner file yet: a server being set up right now, or a broken leftover; only
            # the latter is old
            try:
                if time.time() - folder.stat().st_mtime < 3600:
                    continue
            except OSError:
                continue
            owner = -1
        if owner > 0 and (owner == os.getpid() or _pid_alive(owner)):
            continue
        data = folder / "data"
        try:
            postmaster = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
            # the postmaster runs in its data folder: the pid is not a reused one
            if os.path.realpath(f"/proc/{postmaster}/cwd") == os.path.realpath(data):
                os.kill(postmaster, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while _pid_alive(postmaster) and time.monotonic() < deadline:
                    time.sleep(0.05)
        except (OSError, ValueError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class PostgresServer:
    """One throwaway PostgreSQL server: ``start()``, ``.url``, ``fresh_database()``, ``stop()``."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.account = _server_account()
        self.password = secrets.token_hex(12)
        self.port = 0
        self.root: Path | None = None  # the temp folder: data/, the socket, server.log
        self.proc: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        self._databases = 0

    # ------------------------------------------------------------------ addresses

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "server.log"

    def url_for(self, database: str) -> str:
        """The ``postgresql://`` URL of ``database`` on this server, as the login role."""
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def admin_connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit connection as the superuser (over the unix socket)."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=ADMIN, dbname=database,
                               autocommit=True, connect_timeout=5)

    # ------------------------------------------------------------------ life

    def start(self) -> Self:
        if self.proc is not None:
            raise RuntimeError("PostgresServer already started")
        remove_stale_dirs()
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir="/tmp"))
        with _live_lock:
            _live.add(self)
        try:
            (self.root / "owner.pid").write_text(str(os.getpid()))
            os.chmod(self.root, 0o700)
            if self.account is not None:
                os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
            self._initdb()
            for attempt in range(3):
                self.port = _free_loopback_port()
                if self._start_postmaster():
                    break
                # another process took the port between our pick and the server's bind
                if attempt == 2 or "could not bind" not in _tail(self.log_path).lower():
                    raise PostgresUnavailable(self._failure("PostgreSQL exited while starting"))
            self._create_role_and_database()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then immediate, then SIGKILL; remove the folder. Idempotent."""
        if os.getpid() != self._owner_pid:  # a forked child must not stop its parent's server
            return
        proc, self.proc = self.proc, None
        if proc is not None:
            for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
                if proc.poll() is not None:
                    break
                try:
                    proc.send_signal(sig)
                    proc.wait(wait)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    continue
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        with _live_lock:
            _live.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    def fresh_database(self, name: str | None = None) -> str:
        """Create an empty database owned by the login role; return its URL."""
        if name is None:
            self._databases += 1
            name = f"test_{os.getpid()}_{self._databases}_{secrets.token_hex(3)}"
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(USER)))
        return self.url_for(name)

    # ------------------------------------------------------------------ internals

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        if self.account is not None:
            env.update(HOME=str(self.root), USER=self.account.pw_name, LOGNAME=self.account.pw_name)
        return env

    def _as_account(self) -> dict[str, Any]:
        """Popen arguments running the program as the server account (if we are root)."""
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", ADMIN, "-E", "UTF8",
                "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
                "--no-instructions"]
        done = subprocess.run(argv, check=False, cwd=self.root, env=self._env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                              **self._as_account())
        if done.returncode != 0:
            output = "\n".join(done.stdout.decode(errors="replace").splitlines()[-30:])
            raise PostgresUnavailable(f"initdb failed (exit {done.returncode}):\n{output}")

    def _start_postmaster(self) -> bool:
        """Start postgres on self.port; True once it accepts connections, False if it exited."""
        settings = dict(SETTINGS, port=str(self.port), unix_socket_directories=str(self.socket_dir))
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        # The postmaster gets SIGINT (fast shutdown) when the thread that started it ends:
        # only a start from the main thread (which lives as long as the process) asks for it.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            argv = [setpriv, "--pdeathsig", "INT", "--"] + argv
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=self.root, env=self._env(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         **self._as_account())
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while True:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                with self.admin_connect() as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError as exc:  # not listening yet, or "starting up"
                last_error = exc
            if time.monotonic() > deadline:
                raise PostgresUnavailable(self._failure(
                    f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s ({last_error})"))
            time.sleep(0.05)

    def _create_role_and_database(self) -> None:
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(USER), sql.Literal(self.password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(USER)))

    def _failure(self, what: str) -> str:
        return f"{what}; {self.bin_dir / 'postgres'}, data in {self.root}; server log tail:\n{_tail(self.log_path)}"


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server.stop()
