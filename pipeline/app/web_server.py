"""``pipeline web``: the web application (pipeline/web) served by uvicorn on
``PIPELINE_WEB_ADDR:PIPELINE_WEB_PORT``; ``pipeline run`` starts it as one of its children.
One process: the log-in throttle lives in its memory (docs/web.md)."""

from __future__ import annotations

import argparse
import signal
import sys

import structlog

from pipeline.app.logs import configure_logging, for_a_person
from pipeline.app.settings import Settings, load_settings_or_exit


def web_address(settings: Settings) -> str:
    return f"http://{settings.web_addr}:{settings.web_port}/"


def serve(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM (uvicorn's own handling: finish the requests under way)."""
    import uvicorn

    from pipeline.app.compose import Composition

    composition = Composition(settings)
    app = composition.web_app()
    log = structlog.get_logger("pipeline.web")
    log.info("web.started", address=web_address(settings))
    config = uvicorn.Config(app, host=settings.web_addr, port=settings.web_port, log_config=None,
                            access_log=False, proxy_headers=settings.web_https, server_header=False,
                            forwarded_allow_ips=settings.web_trusted_proxies if settings.web_https else None)
    server = uvicorn.Server(config)
    # uvicorn finishes the requests under way on SIGTERM/SIGINT, puts back the handlers it
    # found and raises the signal again: these make that a clean return, so the process
    # logs its stop and exits 0 (Python's defaults would end it there, unlogged)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    server.run()
    log.info("web.stopped")
    return 0 if server.started else 1


def cmd_web(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    if not settings.web_port:
        print("pipeline web: PIPELINE_WEB_PORT is 0; give the port to serve on", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level, process_name="web", log_file=settings.log_file)
    if for_a_person(settings.log_format):
        print(f"pipeline web: serving {web_address(settings)}", file=sys.stderr, flush=True)
    return serve(settings)


def add_web_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sub.add_parser("web", help="serve the web application alone (pipeline run serves it too)").set_defaults(
        func=cmd_web)
