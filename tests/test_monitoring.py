"""The monitoring files (deploy/monitoring/, docs/deploy.md "Monitoring") agree with the
code that exports the metrics.

Neither Prometheus nor Grafana runs here (no Docker engine, no network). What is checked
instead, against the code rather than against a copy of it:

- every file parses (YAML, JSON);
- every metric name in a PromQL expression of the alert rules and the dashboard is one the
  exporter really renders: ``PipelineCollector`` (pipeline/ops/metrics.py) is rendered in
  this process, over the test suite's real redis-server, in the Prometheus text format;
- every label name and value in a matcher, a ``by``/``on`` clause, a legend or an alert
  template is one the exporter (or Prometheus' scrape config) can produce;
- every alert has ``for``, a severity and operator-facing annotations;
- the dashboard uses the provisioned data source, the compose services mount files that
  exist, the rule files resolve inside the mounted folder, and the scraped targets are the
  services whose metrics endpoint the override file turns on.
"""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.app.compose import Composition
from pipeline.app.settings import load_settings
from pipeline.check.catalogue import CATALOGUE
from pipeline.ops.metrics import PipelineCollector, decision_increments
from tests.support.compose_files import SETTINGS_VARS, environment_of, example_env, resolved

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "monitoring"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
METRICS_OVERRIDE = MONITORING / "compose.metrics.yml"
PROMETHEUS_CONFIG = MONITORING / "prometheus.yml"
ALERTS = MONITORING / "alerts.yml"
GRAFANA = MONITORING / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARD = GRAFANA / "dashboards" / "pipeline.json"
MONITORING_SERVICES = ("prometheus", "grafana")

#: metrics Prometheus makes itself: the scrape's ``up`` and the rules' ``ALERTS``
PROMETHEUS_METRICS = {"up", "ALERTS"}
#: label values the exporter fills from data, and every value the code can put there
DATA_LABELS = {"code": set(CATALOGUE)}
#: Grafana's own variables (the dashboard's are in its templating list)
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__all"}


# -- readers --------------------------------------------------------------------------------
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def targets() -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels():
        for target in panel.get("targets", []):
            yield panel["title"], target


def template_variables() -> list[dict[str, Any]]:
    return dashboard()["templating"]["list"]


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every expression of the rules and the dashboard."""
    found = [(f"alerts.yml {rule['alert']}", rule["expr"]) for rule in rules()]
    found += [(f"pipeline.json panel {title!r}", target["expr"]) for title, target in targets()]
    return found


def scrape_config() -> dict[str, Any]:
    return load_yaml(PROMETHEUS_CONFIG)


def target_labels() -> dict[str, set[str]]:
    """Labels Prometheus puts on every scraped series: job, instance, the static labels."""
    labels: dict[str, set[str]] = {"job": set(), "instance": set()}
    for job in scrape_config()["scrape_configs"]:
        labels["job"].add(job["job_name"])
        for static in job["static_configs"]:
            labels["instance"].update(static["targets"])
            for name, value in (static.get("labels") or {}).items():
                labels.setdefault(name, set()).add(str(value))
    return labels


# -- what the exporter renders --------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, set[str]]]:
    """Sample name -> {label: values} of the endpoint's text, as Prometheus would read it:
    ``PipelineCollector`` over a real Redis and store (an empty inbox, a decision with an
    ``INTERNAL`` error and one mail of each kind counted the way the workers count them)."""
    namespace = f"monitoring-{uuid.uuid4().hex[:8]}"
    settings = load_settings(env={"PIPELINE_DATA_DIR": str(tmp_path_factory.mktemp("monitoring")),
                                  "REDIS_URL": redis_server.url, "PIPELINE_NAMESPACE": namespace})
    ops = Composition(settings, checks=()).ops()
    document = {"status": "rejected", "package": {"size": 1234}, "errors": [{"code": "INTERNAL"}]}
    for field, amount in decision_increments(document, 0.3).items():
        ops.counters.add(field, amount)
    for result in ("sent", "unknown", "rejected", "gave_up", "retry"):  # what Mailer.on_result tells
        ops.counters.mail(result)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(lambda: ops))  # type: ignore[arg-type]
    try:
        text = generate_latest(registry).decode("utf-8")
    finally:
        keys = list(ops.client.scan_iter(f"{namespace}*"))
        if keys:
            ops.client.delete(*keys)
    samples: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = samples.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    assert samples.get("pipeline_metrics_up") == {}, "the render must be a complete scrape"
    assert "pipeline_packages_decided_total" in samples, text
    return samples


def families(names: set[str]) -> set[str]:
    return {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in names}


# -- a small reader of PromQL ---------------------------------------------------------------
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.$:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
             "offset", "bool", "inf", "nan"}


def selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(metric, [(label, operator, value)]) of every ``metric{...}`` selector."""
    found = []
    for match in _SELECTOR.finditer(expr):
        body = match.group(2)
        matchers = [(m.group(1), m.group(2), m.group(3)) for m in _MATCHER.finditer(body)]
        assert "".join(m.group(0) for m in _MATCHER.finditer(body)).strip() == body.strip(), \
            f"cannot read the matchers {{{body}}}"
        assert match.group(1), f"a selector without a metric name: {match.group(0)}"
        found.append((match.group(1), matchers))
    return found


def metric_names(expr: str) -> set[str]:
    """Every metric name of ``expr`` (with or without a ``{...}``): the identifiers that are
    no function, keyword, label, duration or number."""
    bare = _CLAUSE.sub(" ", _RANGE.sub(" ", re.sub(r"\{[^}]*\}", " ", expr)))
    return {name for name in _IDENTIFIER.findall(bare) if name not in _KEYWORDS}


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for match in _CLAUSE.finditer(expr) for label in match.group(2).split(",")
            if label.strip()}


def allowed_values(values: set[str], operator: str, value: str) -> bool:
    if operator in ("=", "!="):
        return value in values
    if re.fullmatch(r"[\w.+-]+(\|[\w.+-]+)*", value):  # an alternation of plain values
        return all(v in values for v in value.split("|"))
    return any(re.fullmatch(value, v) for v in values)


class Vocabulary:
    """Label names and values each metric name may be selected by."""

    def __init__(self, exported: dict[str, dict[str, set[str]]]) -> None:
        self.targets = target_labels()
        self.labels: dict[str, dict[str, set[str]]] = {"up": dict(self.targets)}
        for name, labels in exported.items():
            merged = {**self.targets}
            for label, values in labels.items():
                merged[label] = DATA_LABELS.get(label, values)
            self.labels[name] = merged
        alerts = rules()
        alert_labels: dict[str, set[str]] = {"alertname": {r["alert"] for r in alerts},
                                             "alertstate": {"pending", "firing"}}
        for rule in alerts:
            for label, value in (rule.get("labels") or {}).items():
                alert_labels.setdefault(label, set()).add(str(value))
        self.labels["ALERTS"] = {**self.everything(), **alert_labels}

    def everything(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for labels in self.labels.values():
            for label, values in labels.items():
                out.setdefault(label, set()).update(values)
        return out


def labels_of(vocabulary: Vocabulary, expr: str) -> set[str]:
    """The label names the series of ``expr``'s metrics have."""
    return {label for name in metric_names(expr) for label in vocabulary.labels.get(name, {})}


# -- the tests ------------------------------------------------------------------------------
def test_every_monitoring_file_parses() -> None:
    parsed = {path: (json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else load_yaml(path))
              for path in sorted(MONITORING.rglob("*")) if path.is_file()}
    assert set(parsed) == {METRICS_OVERRIDE, PROMETHEUS_CONFIG, ALERTS, DATASOURCES, DASHBOARD_PROVIDERS,
                           DASHBOARD}, "a file the compose stack does not load, or one missing"
    for path, content in parsed.items():
        assert isinstance(content, dict) and content, path
    assert isinstance(compose()["services"], dict)
    assert rules() and all(rule.get("expr") for rule in rules())
    assert list(targets()), "a dashboard without queries"


def test_every_metric_name_is_one_the_exporter_renders(exported: dict[str, dict[str, set[str]]]) -> None:
    known = set(exported) | PROMETHEUS_METRICS
    for where, expr in expressions():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = names - known
        assert not unknown, f"{where}: not exported by pipeline/ops/metrics.py: {sorted(unknown)}"
    for variable in template_variables():
        match = re.fullmatch(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*(\w+)\s*\)", variable["definition"])
        assert match, f"variable {variable['name']}: {variable['definition']}"
        assert match.group(1) in exported, variable["definition"]
        assert match.group(2) in set(exported[match.group(1)]) | set(target_labels()), variable["definition"]
        assert variable["query"] == variable["definition"]


def test_dashboard_shows_and_rules_watch_every_exported_metric(exported: dict[str, dict[str, set[str]]]) -> None:
    shown = {name for title, target in targets() for name in metric_names(target["expr"])}
    assert families(shown) >= families(set(exported)), \
        f"not on the dashboard: {sorted(families(set(exported)) - families(shown))}"
    watched = {name for rule in rules() for name in metric_names(rule["expr"])}
    required = {"up", "pipeline_metrics_up", "pipeline_workers_alive", "pipeline_inbox_waiting",
                "pipeline_inbox_oldest_seconds", "pipeline_in_progress", "pipeline_queue_messages",
                "pipeline_mails_total", "pipeline_mail_retries_total", "pipeline_decision_seconds_bucket",
                "pipeline_packages_decided_total"}
    assert required <= watched, f"no alert on {sorted(required - watched)}"


def test_label_names_and_values_are_ones_the_code_produces(exported: dict[str, dict[str, set[str]]]) -> None:
    vocabulary = Vocabulary(exported)
    for label, values in DATA_LABELS.items():  # what was rendered is in the set allowed
        for name, labels in exported.items():
            assert labels.get(label, set()) <= values, f"{name}{{{label}}}: {labels[label] - values}"
    variables = {v["name"] for v in template_variables()} | GRAFANA_BUILTINS
    for where, expr in expressions():
        for metric, matchers in selectors(expr):
            assert metric in vocabulary.labels, f"{where}: {metric} is not exported"
            labels = vocabulary.labels[metric]
            for label, operator, value in matchers:
                assert label in labels, f"{where}: {metric} has no label {label!r} (it has {sorted(labels)})"
                if "$" in value:
                    used = set(re.findall(r"\$\{?(\w+)", value))
                    assert used <= variables, f"{where}: undefined dashboard variable {sorted(used - variables)}"
                    continue
                assert allowed_values(labels[label], operator, value), \
                    f"{where}: {metric}{{{label}{operator}{value!r}}} never matches; the code produces {sorted(labels[label])}"
        unknown = grouping_labels(expr) - labels_of(vocabulary, expr)
        assert not unknown, f"{where}: grouping by labels none of its series has: {sorted(unknown)}"
    for title, target in targets():
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        unknown = legend - labels_of(vocabulary, target["expr"])
        assert not unknown, f"panel {title!r}: legend of labels its series do not have: {sorted(unknown)}"
    for rule in rules():
        text = " ".join(rule["annotations"].values())
        unknown = set(re.findall(r"\$labels\.(\w+)", text)) - labels_of(vocabulary, rule["expr"])
        assert not unknown, f"{rule['alert']}: template of labels its series do not have: {sorted(unknown)}"


def test_the_reader_of_promql_catches_what_it_must() -> None:
    """The checks above fail on a misspelled metric, label or value (the reader sees them)."""
    expr = 'sum by (intake, staus) (rate(pipeline_packages_decide_total{status="rejcted"}[5m])) and pipline_up > 0'
    assert metric_names(expr) == {"pipeline_packages_decide_total", "pipline_up"}
    assert selectors(expr) == [("pipeline_packages_decide_total", [("status", "=", "rejcted")])]
    assert grouping_labels(expr) == {"intake", "staus"}
    statuses = {"accepted", "rejected", "duplicate"}
    assert not allowed_values(statuses, "=", "rejcted")
    assert not allowed_values(statuses, "=~", "rejected|gave_up")
    assert allowed_values(statuses, "=~", "rej.*") and not allowed_values(statuses, "=~", "x.*")


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    for group in load_yaml(ALERTS)["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}, f"group keys: {sorted(group)}"
        for rule in group["rules"]:  # Prometheus refuses a rule file with an unknown field
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, \
                f"{rule.get('alert')}: unknown fields {sorted(set(rule) - {'alert', 'expr', 'for', 'labels', 'annotations'})}"
    events = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split("### Every event", 1)[1]
    names = [rule.get("alert") for rule in rules()]
    assert all(names) and len(names) == len(set(names)), f"unnamed or repeated alerts: {names}"
    for rule in rules():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: no `for:`"
        assert rule.get("labels", {}).get("severity") in ("critical", "warning"), f"{name}: severity"
        annotations = rule.get("annotations") or {}
        assert annotations.get("summary", "").strip(), f"{name}: no summary"
        assert len(annotations.get("description", "").split()) >= 15, f"{name}: say what to do"
        # every series of an alert tells which pipeline it is about
        assert "{{ $labels.intake }}" in annotations["summary"], f"{name}: which intake?"
        # the log events it points at are the ones docs/operations.md lists (and the code logs)
        for event in re.findall(r"`([a-z_]+\.[a-z_]+)`", annotations["description"]):
            assert f"| `{event}` |" in events, f"{name}: no log event {event} in docs/operations.md"


def test_dashboard_uses_the_provisioned_data_source() -> None:
    provisioned = load_yaml(DATASOURCES)["datasources"]
    assert len(provisioned) == 1 and provisioned[0]["type"] == "prometheus"
    uid = provisioned[0]["uid"]
    board = dashboard()
    assert board["uid"] == "pipeline-intake" and board["title"] == "培训上报 intake pipeline"
    assert 36 <= board["schemaVersion"] <= 41

    def references(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource":
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for item in node:
                yield from references(item)

    found = list(references(board))
    assert found and all(ref == {"type": "prometheus", "uid": uid} for ref in found), \
        f"data sources other than {uid!r}: {[r for r in found if r != {'type': 'prometheus', 'uid': uid}]}"
    for panel in panels():
        assert panel.get("targets"), f"panel {panel['title']!r} queries nothing"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    refs = [(title, target["refId"]) for title, target in targets()]
    assert len(refs) == len(set(refs)), "refIds repeat within a panel"


# -- compose --------------------------------------------------------------------------------
def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of a service's volumes (short syntax)."""
    out = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        out.append((source, target, mode[0] if mode else "rw"))
    return out


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where a path inside the container comes from on the host, through a bind mount."""
    best = None
    for source, target, _ in mounts(service):
        inside = container_path == target or container_path.startswith(target.rstrip("/") + "/")
        if inside and (best is None or len(target) > len(best[1])):
            best = (source, target)
    assert best and best[0].startswith("."), f"{container_path} is not bind mounted"
    return (COMPOSE_FILE.parent / best[0] / posixpath.relpath(container_path, best[1])).resolve()


def test_monitoring_services_are_an_opt_in_profile_on_loopback() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if name in MONITORING_SERVICES:
            assert service.get("profiles") == ["monitoring"], name
            image, _, tag = service["image"].rpartition(":")
            assert image and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin the image, not {service['image']}"
            assert service.get("restart") == "unless-stopped", name
            for port in service.get("ports", []):
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} must be bound to 127.0.0.1"
            for source, target, mode in mounts(service):
                if source.startswith("."):
                    assert (COMPOSE_FILE.parent / source).exists(), f"{name}: {source} does not exist"
                    assert mode == "ro", f"{name}: mount {source} read-only"
                else:
                    assert source in compose()["volumes"], f"{name}: volume {source} not declared"
        else:
            assert "profiles" not in service, f"{name}: the default stack must stay as it was"
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_prometheus_loads_the_config_and_the_rules_it_is_given() -> None:
    prometheus = compose()["services"]["prometheus"]
    flags = dict(arg.split("=", 1) for arg in prometheus["command"])
    config_path = flags["--config.file"]
    assert host_path(prometheus, config_path) == PROMETHEUS_CONFIG.resolve()
    rule_files = scrape_config()["rule_files"]
    assert rule_files, "no rule_files"
    resolved_rules = set()
    for entry in rule_files:
        assert not set(entry) & set("*?["), f"{entry}: name the file, no glob"
        in_container = entry if entry.startswith("/") else posixpath.join(posixpath.dirname(config_path), entry)
        path = host_path(prometheus, in_container)
        assert path.is_file(), f"rule file {entry} -> {path} does not exist"
        resolved_rules.add(path)
    assert resolved_rules == {ALERTS.resolve()}
    storage = flags["--storage.tsdb.path"]
    assert any(target == storage and not source.startswith(".") for source, target, _ in mounts(prometheus)), \
        "Prometheus' data on a named volume"


def test_scraped_targets_serve_the_metrics() -> None:
    """Each scrape target is a pipeline service whose PIPELINE_METRICS_PORT the override
    file turns on, on the port scraped; the override sets pipeline settings only."""
    services = compose()["services"]
    override = load_yaml(METRICS_OVERRIDE)["services"]
    env = example_env()
    for name, service in override.items():
        assert name in services, f"compose.metrics.yml: no service {name}"
        assert set(service) == {"environment"}, f"{name}: the override changes only the environment"
        extra = {key: str(value) for key, value in service["environment"].items()}
        assert set(extra) <= SETTINGS_VARS, f"{name}: not pipeline settings: {sorted(set(extra) - SETTINGS_VARS)}"
    scraped = [target for job in scrape_config()["scrape_configs"] for static in job["static_configs"]
               for target in static["targets"]]
    assert scraped
    intakes = set()
    for target in scraped:
        host, _, port = target.rpartition(":")
        assert host in override, f"{target}: its metrics endpoint is not turned on in compose.metrics.yml"
        merged = {**resolved(environment_of(services[host]), env),
                  **{k: str(v) for k, v in override[host]["environment"].items()}}
        settings = load_settings(env=merged)
        assert settings.metrics_port == int(port), f"{target}: the service serves port {settings.metrics_port}"
        intakes.add((settings.redis_url, settings.namespace))
    assert len(intakes) == len(scraped), "two targets of the same pipeline: one per pipeline is enough"
    assert target_labels()["intake"] == {"s3", "sftp"}


def test_grafana_is_provisioned_from_the_mounted_files() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    assert host_path(grafana, "/etc/grafana/provisioning/datasources") == DATASOURCES.parent.resolve()
    assert host_path(grafana, "/etc/grafana/provisioning/dashboards") == DASHBOARD_PROVIDERS.parent.resolve()
    providers = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert [p["type"] for p in providers] == ["file"]
    assert host_path(grafana, providers[0]["options"]["path"]) == DASHBOARD.parent.resolve()
    home = environment_of(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path(grafana, home) == DASHBOARD.resolve()
    # the data source is the prometheus service, on the port Prometheus listens on
    url = load_yaml(DATASOURCES)["datasources"][0]["url"]
    match = re.fullmatch(r"http://([\w-]+):(\d+)", url)
    assert match and match.group(1) in services, url
    listen = dict(arg.split("=", 1) for arg in services["prometheus"]["command"]).get("--web.listen-address", ":9090")
    assert listen.rpartition(":")[2] == match.group(2)
    assert any(str(p).endswith(f":{match.group(2)}") for p in services["prometheus"]["ports"])


def test_docs_explain_every_alert() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = guide.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    for rule in rules():
        assert f"`{rule['alert']}`" in section, f"docs/deploy.md \"Monitoring\" does not explain {rule['alert']}"
    for name in ("compose.metrics.yml", "--profile monitoring", "127.0.0.1:3000", "127.0.0.1:9090"):
        assert name in section, name
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    metrics = operations.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    assert "deploy/monitoring" in metrics and "deploy.md#monitoring" in metrics
