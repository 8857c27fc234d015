"""``pipeline run``: the whole pipeline in the foreground, for one machine.

Starts an embedded ``redis-server`` (:mod:`pipeline.app.redis_server`) unless
``REDIS_URL`` is set, then the watcher and the worker processes as
children. A child that dies is restarted with a log line; SIGTERM or Ctrl-C stops them
all, Redis last, within 10 s.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from pipeline.app.redis_server import (embedded_redis_argv, embedded_url_file, free_loopback_port,
                                     wait_for_redis)
from pipeline.app.logs import for_a_person, rotate_log_file
from pipeline.app.settings import Settings
from pipeline.app.web_server import web_address
from pipeline.check.files import write_atomic

STOP_GRACE_SECONDS = 6.0  # children get this long after SIGTERM, Redis gets the rest of 10 s
log = structlog.get_logger()


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    not_before: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        # Own process group, so Ctrl-C in the terminal reaches only us and we stop the
        # children in order.
        self.proc = subprocess.Popen(self.argv, env=self.env, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        log.info("supervisor.child_started", child=self.name, pid=self.proc.pid, restarts=self.restarts)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the supervisor dies, even by SIGKILL,
    so no worker, watcher or Redis outlives it unsupervised (Linux prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: children must be stopped by hand
        pass


def _python_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


class Supervisor:
    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.env = dict(env)
        self.stopping = threading.Event()
        self.children: list[Child] = []
        self.redis_child: Child | None = None

    def _prepare_redis(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        self.settings.redis_dir.mkdir(parents=True, exist_ok=True)
        port = free_loopback_port()
        self.redis_child = Child("redis", embedded_redis_argv(self.settings.redis_dir, port), self.env)
        self.redis_child.start()
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url)
        # Where the operator commands (pipeline status, find, ...) find this Redis.
        write_atomic(embedded_url_file(self.settings), url.encode())
        log.info("supervisor.embedded_redis", url=url, dir=str(self.settings.redis_dir))
        return url

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        for folder in ("inbox", "claimed", "archive", "quarantine", "work"):
            (self.settings.data_dir / folder).mkdir(parents=True, exist_ok=True)
        url = self._prepare_redis()
        child_env = {**self.env, "REDIS_URL": url, "PIPELINE_DATA_DIR": str(self.settings.data_dir)}
        if self.settings.log_file:
            child_env["PIPELINE_LOG_FILE"] = str(self.settings.log_file)
        self.children = [Child("watcher", _python_cli("watch"), child_env)]
        self.children += [Child(f"worker-{n + 1}", _python_cli("worker"), child_env)
                          for n in range(self.settings.worker_processes)]
        web = web_address(self.settings) if self.settings.web_port else None
        if web:  # the web application (docs/web.md); PIPELINE_WEB_PORT=0 serves none
            self.children.append(Child("web", _python_cli("web"), child_env))
        for child in self.children:
            child.start()
        inbox = self.settings.inbox_dir
        if for_a_person(self.settings.log_format):
            print(self._where_to_drop(), file=sys.stderr, flush=True)
        log.info("supervisor.started", inbox=str(inbox), workers=self.settings.worker_processes,
                 threads=self.settings.worker_threads, redis=url, web=web)
        while not self.stopping.wait(0.5):
            self._restart_dead()
            if self.settings.log_file:
                rotate_log_file(self.settings.log_file)  # the supervisor alone rotates it
        return self._shutdown()

    def _where_to_drop(self) -> str:
        s = self.settings
        if s.storage == "s3":
            return (f"\n  Pipeline running (S3 at {s.s3_endpoint}). Upload report packages (ZIP) to\n"
                    f"    bucket {s.s3_inbox_bucket}, key inbox/<name>.zip or inbox/<account>/<name>.zip.\n"
                    f"  Decisions appear in the buckets {s.s3_archive_bucket} and {s.s3_quarantine_bucket}.\n"
                    + self._web_line() + "  Ctrl-C stops.\n")
        return (f"\n  Pipeline running. Drop report packages (ZIP) into:\n    {s.inbox_dir}/\n"
                f"  or {s.inbox_dir}/<account>/ per institution account.\n"
                f"  Decisions appear in {s.archive_dir}/ and {s.quarantine_dir}/.\n"
                + self._web_line() + "  Ctrl-C stops.\n")

    def _web_line(self) -> str:
        if not self.settings.web_port:
            return ""
        return (f"  Web pages: {web_address(self.settings)} (logins: `pipeline web-user add NAME --role ...`)\n")

    def _restart_dead(self) -> None:
        now = time.monotonic()
        everyone = ([self.redis_child] if self.redis_child else []) + self.children
        for child in everyone:
            code = child.exited()
            if code is None:
                continue
            if child.not_before == 0.0:
                # Back off a child that keeps dying right after start (up to 10 s).
                quick = now - child.started_at < 10
                delay = min(10.0, 0.5 * 2 ** min(child.restarts, 5)) if quick else 0.0
                child.not_before = now + delay
                log.warning("supervisor.child_exited", child=child.name, pid=child.proc.pid if child.proc else None,
                            exit_code=code, restart_in_s=round(delay, 1))
            if now >= child.not_before and not self.stopping.is_set():
                child.restarts += 1
                child.not_before = 0.0
                child.start()
                log.warning("supervisor.child_restarted", child=child.name, restarts=child.restarts)
                if child is self.redis_child:
                    try:
                        wait_for_redis(f"redis://127.0.0.1:{child.argv[child.argv.index('--port') + 1]}/0")
                    except RuntimeError:
                        log.error("supervisor.redis_not_ready_after_restart")

    def _shutdown(self) -> int:
        log.info("supervisor.stopping")
        for child in self.children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            self._wait_or_kill(child, deadline)
        if self.redis_child is not None:
            self.redis_child.signal(signal.SIGTERM)  # Redis flushes its AOF on SIGTERM
            self._wait_or_kill(self.redis_child, time.monotonic() + 3.0)
            embedded_url_file(self.settings).unlink(missing_ok=True)
        log.info("supervisor.stopped")
        return 0

    @staticmethod
    def _wait_or_kill(child: Child, deadline: float) -> None:
        if child.proc is None:
            return
        try:
            child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("supervisor.child_killed", child=child.name, pid=child.proc.pid)
            child.proc.kill()
            child.proc.wait()


def run_supervisor(settings: Settings, env: dict[str, str]) -> int:
    """Run until stopped. ``env`` is the environment the children inherit."""
    return Supervisor(settings, env).run()
