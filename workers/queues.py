"""The names the actors and the processes that send to them share: queues and the
actor other processes address by name (the watcher, ``pipeline requeue``)."""

from __future__ import annotations

#: packages to decide (and their INTERNAL fallback)
PACKAGES = "packages"
#: decisions to index, count and announce
DECISIONS = "decisions"
#: receipt mails: their own queue, so a slow mail server never delays a decision
MAIL = "mail"
QUEUES = (PACKAGES, DECISIONS, MAIL)

#: the actor that decides one upload (queue PACKAGES)
INGEST_PACKAGE = "ingest_package"
#: the actor that indexes, counts and announces a stored decision (queue DECISIONS)
PACKAGE_DECIDED = "package_decided"
