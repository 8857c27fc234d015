"""Worker boot: a worker process's composition, the same for ``pipeline worker`` (one
process, started by ``pipeline run`` or a unit) and the Dramatiq CLI
(``dramatiq pipeline.app.worker:setup --processes N --threads M``, which calls
:func:`setup` in each of its worker processes).

Booting reads the settings and the institution registry (a malformed registry stops
start-up, naming its line), removes the scratch folders this host's dead processes left
behind, builds the broker and declares the actors on it with the composition's
services. Nothing is built before: importing this module (or ``workers``) builds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker

from pipeline.app.compose import Composition
from pipeline.app.logs import configure_logging
from pipeline.app.settings import Settings, load_settings
from pipeline.app.stopping import wait_for_stop
from pipeline.intake.deciding import release_held_leases
from pipeline.intake.scratch import remove_stale_scratch_at_start
from workers.actors import PipelineActors
from workers.queues import DECISIONS, MAIL, PACKAGES, SELF_CHECKS


@dataclass(frozen=True)
class BootedWorker:
    composition: Composition
    broker: RedisBroker
    actors: PipelineActors


def boot(settings: Settings) -> BootedWorker:
    """Compose a worker process: logging, registry, stale scratch, broker, actors."""
    configure_logging(settings.log_format, settings.log_level, process_name="worker",
                      log_file=settings.log_file)
    composition = Composition(settings)
    _ = composition.registry  # read now: a malformed registry stops start-up (RegistryError names the line)
    # the catalogue opened (and migrated) and its key read now, not at the first package
    _ = composition.catalogue_engine, composition.catalogue_key
    # Once per process, before any actor runs: every way of starting workers
    # (`pipeline worker`, the Dramatiq CLI, the units, compose) gets it.
    remove_stale_scratch_at_start(settings.work_dir)
    broker = composition.broker
    actors = PipelineActors(broker, composition, composition.actor_options())
    dramatiq.set_broker(broker)  # for the Dramatiq CLI, which runs the global broker
    return BootedWorker(composition, broker, actors)


def setup() -> None:
    """The set-up callable of the Dramatiq CLI: ``dramatiq pipeline.app.worker:setup``."""
    boot(load_settings())


def run(settings: Settings) -> int:
    """``pipeline worker``: one worker process in the foreground until SIGTERM/SIGINT.

    Its threads are split: ``PIPELINE_WORKER_THREADS`` decide packages and announce
    decisions, ``PIPELINE_MAIL_THREADS`` send receipt mails, so a slow or hanging mail
    server never holds a package (the two are Dramatiq workers on the same broker, each
    consuming only its queues)."""
    booted = boot(settings)
    log = structlog.get_logger()
    workers = [dramatiq.Worker(booted.broker, queues={PACKAGES, DECISIONS, SELF_CHECKS}, worker_threads=settings.worker_threads,
                               worker_timeout=settings.worker_poll_ms),
               dramatiq.Worker(booted.broker, queues={MAIL}, worker_threads=settings.mail_threads,
                               worker_timeout=settings.worker_poll_ms)]
    for worker in workers:
        worker.start()
    log.info("worker.started", pid=os.getpid(), threads=settings.worker_threads, mail_threads=settings.mail_threads)
    wait_for_stop()
    log.info("worker.stopping", pid=os.getpid())
    # no new work from here: every worker thread of both workers is told at once (each
    # Worker.stop would otherwise leave the other worker's threads taking messages)
    for worker in workers:
        for thread in worker.workers:
            thread.stop()
    for worker in workers:
        worker.stop(timeout=3000)
    # packages still being decided are cut short with the process: free them now
    release_held_leases(booted.composition.services)
    booted.broker.close()
    return 0
