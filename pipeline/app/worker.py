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
import shutil
import threading
from dataclasses import dataclass

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker

from pipeline.app.compose import Composition
from pipeline.app.logs import configure_logging
from pipeline.app.settings import Settings, load_settings
from pipeline.app.stopping import wait_for_stop
from pipeline.check.assess import warm_up
from pipeline.intake.deciding import release_held_leases
from pipeline.intake.scratch import remove_stale_scratch_at_start, worker_identity
from workers.actors import PipelineActors
from workers.queues import DECISIONS, MAIL, PACKAGES, SELF_CHECKS


#: threads per worker process that announce decisions (queue ``decisions``): a catalogue
#: write and a message each, a few milliseconds; one keeps up with the package threads
ANNOUNCEMENT_THREADS = 1


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
    _warm_up_in_background(composition, settings)
    broker = composition.broker
    actors = PipelineActors(broker, composition, composition.actor_options())
    dramatiq.set_broker(broker)  # for the Dramatiq CLI, which runs the global broker
    return BootedWorker(composition, broker, actors)


def _warm_up_in_background(composition: Composition, settings: Settings) -> None:
    """Do what the first package would do for the first time (libraries loaded, probe
    children started, statements compiled), so it is not slower than the rest; beside the
    start-up, not in its way (a package that comes first just does the same itself)."""
    def work() -> None:
        scratch = settings.work_dir / f"{worker_identity()}-warm-up"
        try:
            warm_up(scratch)
            composition.catalogue_lookup.warm_up()
        except Exception as exc:  # only a head start: the first package does it anyway
            structlog.get_logger().warning("worker.warm_up_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    threading.Thread(target=work, name="warm-up", daemon=True).start()


def setup() -> None:
    """The set-up callable of the Dramatiq CLI: ``dramatiq pipeline.app.worker:setup``."""
    boot(load_settings())


def thread_pools(settings: Settings) -> list[tuple[set[str], int]]:
    """(queues, threads) of each Dramatiq worker of a worker process: no two share a queue,
    so the package threads never take an announcement or a mail."""
    return [({PACKAGES, SELF_CHECKS}, settings.worker_threads),
            ({DECISIONS}, ANNOUNCEMENT_THREADS),
            ({MAIL}, settings.mail_threads)]


def run(settings: Settings) -> int:
    """``pipeline worker``: one worker process in the foreground until SIGTERM/SIGINT.

    Its threads are split three ways, each a Dramatiq worker consuming only its queues, so
    no package ever waits behind other work: ``PIPELINE_WORKER_THREADS`` decide packages
    (and clerks' self-checks); one thread announces decisions (the catalogue's index
    write, then the mail's request), ``ANNOUNCEMENT_THREADS``; ``PIPELINE_MAIL_THREADS``
    send receipt mails, so a slow or hanging mail server never holds a package or an
    announcement either."""
    booted = boot(settings)
    log = structlog.get_logger()
    workers = [dramatiq.Worker(booted.broker, queues=queues, worker_threads=threads,
                               worker_timeout=settings.worker_poll_ms)
               for queues, threads in thread_pools(settings)]
    for worker in workers:
        worker.start()
    log.info("worker.started", pid=os.getpid(), threads=settings.worker_threads, mail_threads=settings.mail_threads)
    wait_for_stop()
    log.info("worker.stopping", pid=os.getpid())
    # no new work from here: every thread of the three workers is told at once (each
    # Worker.stop would otherwise leave the other workers' threads taking messages)
    for worker in workers:
        for thread in worker.workers:
            thread.stop()
    for worker in workers:
        worker.stop(timeout=3000)
    # packages still being decided are cut short with the process: free them now
    release_held_leases(booted.composition.services)
    booted.broker.close()
    return 0
