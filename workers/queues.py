"""The names the actors and the processes that send to them share: queues and the
actor other processes address by name (the watcher, ``pipeline requeue``)."""

from __future__ import annotations

#: packages to decide (and their INTERNAL fallback)
PACKAGES = "packages"
#: decisions to index, count and announce
DECISIONS = "decisions"
#: receipt mails: their own queue, so a slow mail server never delays a decision
MAIL = "mail"
#: the web's self-checks (自查，未上报): their own queue, so the web's clerks are counted apart
SELF_CHECKS = "self-checks"
QUEUES = (PACKAGES, DECISIONS, MAIL, SELF_CHECKS)

#: the actor that decides one upload (queue PACKAGES)
INGEST_PACKAGE = "ingest_package"
#: the actor that indexes, counts and announces a stored decision (queue DECISIONS)
PACKAGE_DECIDED = "package_decided"
#: the actor that checks a self-check's ZIP (queue SELF_CHECKS; sent by the web)
SELF_CHECK = "self_check"
