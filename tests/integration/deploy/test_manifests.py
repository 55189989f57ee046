"""The deployment manifests agree with the code: settings, ports, paths, topics, image.

No container engine or cluster is needed: the manifests are parsed and cross-checked
against shared/topology.py, the settings classes (and their production validators),
shared/events.py and the gateway's routing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, ValidationError
from pydantic_core import PydanticUndefined

from shared.asyncapi import ASYNCAPI_PATH, TOPIC_OWNERS, consumers
from shared.db import utcnow
from shared.events import EVENT_TYPES, TOPICS, TicketNoteAdded, dead_letter_topic
from shared.kafka import all_topics
from shared.settings import ServiceSettings
from shared.topology import GATEWAY_PORT, SERVICE_NAMES, SERVICES, ServiceSpec, owner_of, spec
from tests.unit.test_production_refusals import example_secrets, own_secret

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_DIR = DEPLOY / "compose"
CONSUMER_HEAVY = ("routing", "sla", "notify")
NOT_SETTINGS = {"OTEL_SERVICE_NAME"}
"""Variables a service container gets that its settings class does not read (the log formatter
and OpenTelemetry do)."""
PLACEHOLDER = re.compile(r"127\.0\.0\.1|localhost|\.example(?![\w.])")
"""A default naming this machine or a reserved example domain cannot be right in production."""
SECRET_NAME = re.compile(r"SECRET|PASSWORD|_KEY$|DATABASE_URL")


def load(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(DEPLOY.rglob("*.y*ml")) if p.name != "secrets.yaml"],
    ids=lambda p: str(p.relative_to(DEPLOY)),
)
def test_every_manifest_parses(path: Path) -> None:
    assert load(path), f"{path} is empty"


# --- settings: what production needs -------------------------------------------------------
def settings_class(name: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{name}.settings")
    cls: type[ServiceSettings] = getattr(module, f"{name.capitalize()}Settings")
    return cls


def env_name(cls: type[ServiceSettings], field: str) -> str:
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def default_of(cls: type[ServiceSettings], field: str) -> Any:
    info = cls.model_fields[field]
    if info.default is not PydanticUndefined:
        return info.default
    return info.default_factory() if info.default_factory else None  # type: ignore[call-arg]


@contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build(cls: type[ServiceSettings], env: dict[str, str]) -> ServiceSettings:
    with environ(env):
        return cls()


def starts(cls: type[ServiceSettings], env: dict[str, str]) -> bool:
    try:
        build(cls, env)
        return True
    except ValidationError:
        return False


def unused(settings: ServiceSettings, field: str) -> bool:
    """Settings of a transport or sink this configuration does not use."""
    transport = getattr(settings, "sms_transport", None)
    return (
        (field.startswith("sink_") and not getattr(settings, "sinks_on", False))
        or (field.startswith("cmpp_") and transport != "cmpp")
        or (field.startswith("smpp_") and transport != "smpp")
    )


def required_in_production(cls: type[ServiceSettings], env: dict[str, str]) -> set[str]:
    """Fields production cannot leave at their default, derived from the class: those whose
    removal from a working production environment makes the validators refuse to start,
    and those whose default is loopback or a placeholder domain."""
    settings = build(cls, env)
    refused = {
        f
        for f in cls.model_fields
        if env_name(cls, f) in env
        and not starts(cls, {k: v for k, v in env.items() if k != env_name(cls, f)})
    }
    placeholder = {
        f
        for f in cls.model_fields
        if PLACEHOLDER.search(json.dumps(default_of(cls, f), default=str))
        and not unused(settings, f)
    }
    return refused | placeholder


def with_own_secrets(env: dict[str, str]) -> dict[str, str]:
    """The manifests with fresh secrets in place of the published examples: production refuses
    the examples themselves (tests/unit/test_production_refusals.py), so an operator must
    replace them, and what is checked here is that the manifests are complete."""
    fresh = {example: own_secret(example) for example in example_secrets()}
    out = {}
    for key, value in env.items():
        for example, replacement in fresh.items():
            value = value.replace(example, replacement)
        out[key] = value
    return out


def check_service_env(name: str, env: dict[str, str], where: str) -> None:
    cls = settings_class(name)
    env = with_own_secrets(env)
    assert env.get("ENV") == "production", f"{where}: {name} must run with ENV=production"
    try:
        build(cls, env)
    except ValidationError as exc:
        pytest.fail(f"{where}: {name} refuses to start in production: {exc}")
    required = required_in_production(cls, env)
    assert {"database_url", "jwt_secret", "kafka_bootstrap_servers", "host"} <= required
    missing = sorted(env_name(cls, f) for f in required if env_name(cls, f) not in env)
    assert not missing, f"{where}: {name} lacks {missing}"
    known = {env_name(cls, f) for f in cls.model_fields} | NOT_SETTINGS
    unknown = sorted(set(env) - known)
    assert not unknown, f"{where}: {name} gets variables it never reads (typos?): {unknown}"
    assert env[env_name(cls, "port")] == str(spec(name).port)
    assert env["OTEL_SERVICE_NAME"] == name


def check_upstreams(env: dict[str, str], hosts: dict[str, str], where: str) -> None:
    for s in SERVICES:
        assert env[f"GATEWAY_UPSTREAM_{s.name.upper()}"] == f"http://{hosts[s.name]}:{s.port}", (
            where
        )


def check_command(command: list[str], app: str, port: int) -> None:
    assert command[:3] == ["uvicorn", "--factory", app]
    assert command[command.index("--port") + 1] == str(port)
    assert command[command.index("--host") + 1] == "0.0.0.0"


# --- compose -------------------------------------------------------------------------------
def dotenv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip("'\"")
    return out


_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against an env file."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        value = env.get(name)
        if op.endswith("?") and not value:
            raise AssertionError(f"compose needs {name}: {arg}")
        return value if value else (arg if op.endswith("-") else "")

    return _VAR.sub(sub, node.replace("$$", "\0")).replace("\0", "$")


COMPOSE: dict[str, Any] = interpolate(
    load(COMPOSE_DIR / "compose.yaml")[0], dotenv(COMPOSE_DIR / ".env.example")
)
SERVICES_C: dict[str, Any] = COMPOSE["services"]


def compose_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES_C[service].get("environment") or {}).items()}


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_gives_each_service_every_production_setting(name: str) -> None:
    check_service_env(name, compose_env(name), "compose")


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_runs_each_service_on_its_port_with_readiness_and_migration(name: str) -> None:
    service, s = SERVICES_C[name], spec(name)
    check_command(service["command"], s.app, s.port)
    assert f"127.0.0.1:{s.port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["depends_on"][f"migrate-{name}"]["condition"] == (
        "service_completed_successfully"
    )
    job = SERVICES_C[f"migrate-{name}"]
    assert job["command"] == ["python", "-m", "shared.cli", "migrate", name]
    assert compose_env(f"migrate-{name}") == compose_env(name)
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]
    replicas = service["deploy"]["replicas"]
    assert replicas >= (2 if name in CONSUMER_HEAVY else 1)


def test_compose_gateway_routes_to_every_service() -> None:
    gateway = SERVICES_C["gateway"]
    check_command(gateway["command"], "shared.gateway:create_app", GATEWAY_PORT)
    check_upstreams(compose_env("gateway"), {n: n for n in SERVICE_NAMES}, "compose")
    assert f"127.0.0.1:{GATEWAY_PORT}:{GATEWAY_PORT}" in gateway["ports"]
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])


def test_compose_kafka_is_a_three_broker_kraft_cluster_with_rf3_and_min_isr2() -> None:
    brokers = {n: s for n, s in SERVICES_C.items() if s.get("image", "").startswith("apache/kafka")}
    brokers = {n: s for n, s in brokers.items() if "KAFKA_NODE_ID" in s.get("environment", {})}
    assert len(brokers) == 3
    envs = [{k: str(v) for k, v in b["environment"].items()} for b in brokers.values()]
    assert len({e["KAFKA_NODE_ID"] for e in envs}) == 3
    assert len({e["CLUSTER_ID"] for e in envs}) == 1
    for name, env in zip(brokers, envs, strict=True):
        assert "controller" in env["KAFKA_PROCESS_ROLES"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 3
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
    bootstrap = compose_env("intake")["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert sorted(bootstrap) == sorted(f"{n}:9092" for n in brokers)


def test_compose_postgres_has_one_database_per_service() -> None:
    script = (COMPOSE_DIR / "postgres" / "init-databases.sh").read_text(encoding="utf-8")
    match = re.search(r"for service in ([\w ]+); do", script)
    assert match and match.group(1).split() == list(SERVICE_NAMES)
    postgres_env = compose_env("postgres")
    for name in SERVICE_NAMES:
        url = compose_env(name)[f"{name.upper()}_DATABASE_URL"]
        password = postgres_env[f"{name.upper()}_DB_PASSWORD"]
        assert url == f"postgresql+asyncpg://{name}:{password}@postgres:5432/{name}"


# --- topics --------------------------------------------------------------------------------
TOPICS_YAML: dict[str, Any] = load(DEPLOY / "topics.yaml")[0]
TOPIC_SETTINGS: dict[str, Any] = TOPICS_YAML["topics"]


def test_topics_yaml_lists_exactly_the_event_topics_and_a_dlq_per_consumer() -> None:
    expected = {*TOPICS, *(dead_letter_topic(s) for s in consumers())}
    assert set(TOPIC_SETTINGS) == expected
    assert set(TOPIC_SETTINGS) == set(all_topics())


def test_topics_are_keyed_by_ticket_and_durable() -> None:
    assert TOPICS_YAML["key"] == "ticket_no"
    note = TicketNoteAdded(ticket_no="TS2611220482913", author="a", text="t", added_at=utcnow())
    assert note.key == note.ticket_no  # the Kafka key of every event
    for name, t in TOPIC_SETTINGS.items():
        assert t["partitions"] >= 2 * len(CONSUMER_HEAVY), name
        assert t["replication_factor"] == 3, name
        assert int(t["config"]["min.insync.replicas"]) == 2, name
        if name in TOPICS:
            assert t["kind"] == "events" and t["owner"] == TOPIC_OWNERS[name]
        else:
            assert t["kind"] == "dead-letter" and name == dead_letter_topic(t["owner"])
    longest_event = max(int(TOPIC_SETTINGS[t]["config"]["retention.ms"]) for t in TOPICS)
    for service in consumers():
        dlq = TOPIC_SETTINGS[dead_letter_topic(service)]
        assert int(dlq["config"]["retention.ms"]) > longest_event


def test_topic_jobs_apply_topics_yaml() -> None:
    command = SERVICES_C["topics"]["command"]
    assert command[:4] == ["python", "-m", "shared.cli", "topics"]
    partitions = int(command[command.index("--partitions") + 1])
    replication = int(command[command.index("--replication") + 1])
    assert {(t["partitions"], t["replication_factor"]) for t in TOPIC_SETTINGS.values()} == {
        (partitions, replication)
    }
    script = (COMPOSE_DIR / "kafka" / "apply-topic-configs.sh").read_text(encoding="utf-8")
    table = script.split("<<'TOPICS'\n", 1)[1].split("\nTOPICS", 1)[0]
    applied = {
        topic: dict(kv.split("=", 1) for kv in configs.split(","))
        for topic, configs in (line.split() for line in table.splitlines())
    }
    assert applied == {
        t: {k: str(v) for k, v in s["config"].items()} for t, s in TOPIC_SETTINGS.items()
    }
    job = next(d for d in load(K8S / "topics-job.yaml") if d["kind"] == "Job")
    assert container(job)["command"] == command


def test_the_cli_accepts_the_topic_flags_the_jobs_use() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "topics", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert "--partitions" in out and "--replication" in out


# --- kubernetes ----------------------------------------------------------------------------
LOCAL_ONLY = {"kustomization.yaml", "secrets.yaml"}
"""Not manifests of the repo: kustomize's list, and an operator's real secrets (git-ignored)."""
K8S_DOCS: list[dict[str, Any]] = [
    d for p in sorted(K8S.glob("*.yaml")) if p.name not in LOCAL_ONLY for d in load(p)
]


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in K8S_DOCS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def k8s_env(c: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env |= k8s("ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            env |= k8s("Secret", source["secretRef"]["name"])["stringData"]
    for var in c.get("env", []):
        ref = var.get("valueFrom", {}).get("configMapKeyRef")
        env[var["name"]] = (
            k8s("ConfigMap", ref["name"])["data"][ref["key"]] if ref else var["value"]
        )
    return {k: str(v) for k, v in env.items()}


def check_hardened(pod: dict[str, Any], c: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])


def check_workload(name: str, port: int, app: str) -> dict[str, Any]:
    deployment = k8s("Deployment", name)
    pod = deployment["spec"]["template"]
    c = container(deployment)
    check_command(c["command"], app, port)
    assert c["ports"] == [{"name": "http", "containerPort": port}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    check_hardened(pod["spec"], c)
    labels = pod["metadata"]["labels"]
    service = k8s("Service", name)
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = k8s("HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = k8s("PodDisruptionBudget", name)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    return c


@pytest.mark.parametrize("s", SERVICES, ids=lambda s: s.name)
def test_k8s_runs_each_service_like_the_topology_says(s: ServiceSpec) -> None:
    c = check_workload(s.name, s.port, s.app)
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    consumed = {EVENT_TYPES[t].topic for t in consumers().get(s.name, [])}
    partitions = min((TOPIC_SETTINGS[t]["partitions"] for t in consumed), default=None)
    if partitions is not None:
        assert k8s("HorizontalPodAutoscaler", s.name)["spec"]["maxReplicas"] <= partitions


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_k8s_gives_each_service_every_production_setting_secrets_in_secrets(name: str) -> None:
    c = container(k8s("Deployment", name))
    check_service_env(name, k8s_env(c), "k8s")
    for source in c["envFrom"]:
        if "configMapRef" in source:
            data = k8s("ConfigMap", source["configMapRef"]["name"])["data"]
            leaked = [k for k in data if SECRET_NAME.search(k)]
            assert not leaked, f"secrets in a ConfigMap: {leaked}"


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_k8s_migration_job_per_service(name: str) -> None:
    job = k8s("Job", f"{name}-migrate")
    c = container(job)
    assert c["command"] == ["python", "-m", "shared.cli", "migrate", name]
    assert c["envFrom"] == container(k8s("Deployment", name))["envFrom"]
    check_hardened(job["spec"]["template"]["spec"], c)


def test_k8s_gateway() -> None:
    c = check_workload("gateway", GATEWAY_PORT, "shared.gateway:create_app")
    check_upstreams(k8s_env(c), {n: n for n in SERVICE_NAMES}, "k8s")
    assert k8s("Job", "topics")  # the topics job exists too


def ingress_owner(paths: list[dict[str, Any]], path: str) -> str | None:
    """Kubernetes Ingress matching: Exact, else the longest Prefix on segment boundaries."""
    best: tuple[int, int, str] | None = None
    for p in paths:
        rule = p["path"]
        if p["pathType"] == "Exact":
            hit = path == rule
        else:
            hit = rule == "/" or path == rule or path.startswith(rule.rstrip("/") + "/")
        if hit:
            rank = (len(rule), p["pathType"] == "Exact", p["backend"]["service"]["name"])
            best = max(best, rank) if best else rank
    return best[2] if best else None


def test_ingress_is_what_render_py_derives_from_the_topology() -> None:
    loaded = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    assert loaded and loaded.loader
    render = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(render)
    assert k8s("Ingress", "complaints") == render.ingress()


def test_ingress_routes_every_path_to_the_service_the_gateway_would() -> None:
    paths = k8s("Ingress", "complaints")["spec"]["rules"][0]["http"]["paths"]
    samples = [
        path
        for s in SERVICES
        for prefix in s.prefixes
        for path in (prefix, prefix + "/TS2611220482913", prefix + "/a/b")
    ] + [f"/{s.name}/{leaf}" for s in SERVICES for leaf in ("docs", "openapi.json")]
    for path in samples:
        expected = owner_of(path)
        assert expected is not None
        assert ingress_owner(paths, path) == expected.name, path
    assert ingress_owner(paths, "/v1/complaintsX") is None
    for path in ("/", "/docs", ASYNCAPI_PATH):
        assert ingress_owner(paths, path) == "gateway"
    assert ingress_owner(paths, "/metrics") is None  # scraped in-cluster, never exposed
    for p in paths:
        backend = p["backend"]["service"]
        port = k8s("Service", backend["name"])["spec"]["ports"][0]["port"]
        assert backend["port"] == {"number": port}


def test_kustomization_lists_every_manifest_but_the_example_secrets() -> None:
    kustomization = load(K8S / "kustomization.yaml")[0]
    manifests = {p.name for p in K8S.glob("*.yaml")} - LOCAL_ONLY
    assert set(kustomization["resources"]) == manifests - {"secrets.example.yaml"}
    namespace = k8s("Namespace", kustomization["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- image ---------------------------------------------------------------------------------
DOCKERFILE = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def stages() -> list[list[str]]:
    """Dockerfile instructions (continuations joined), split at each FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    out: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_the_image_is_multi_stage_slim_and_non_root() -> None:
    builder, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE)
    assert runtime[0].startswith("FROM ${PYTHON_IMAGE}")
    users = [ln.split()[1] for ln in runtime if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert not any(re.search(r"apt-get install|build-essential|gcc", ln) for ln in runtime)
    assert any("COPY --from=builder /opt/venv /opt/venv" in ln for ln in runtime)
    assert any("-c constraints.txt" in ln for ln in builder)
    cmd = json.loads(next(ln for ln in runtime if ln.startswith("CMD "))[4:])
    check_command(cmd, "shared.gateway:create_app", GATEWAY_PORT)


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")}
    copied = re.findall(r"^COPY (?!--from)(.+?) \S+$", DOCKERFILE, flags=re.M)
    for sources in copied:
        for source in sources.split():
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, f"{source} is excluded by the .dockerignore"


def test_the_log_config_writes_masked_json_lines() -> None:
    code = (
        "import json, logging, logging.config;"
        "logging.config.dictConfig(json.load(open('deploy/logging.json')));"
        "logging.getLogger('uvicorn.error').info('sms to 13800138000')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "OTEL_SERVICE_NAME": "notify"},
    ).stdout
    line = json.loads(out.strip().splitlines()[-1])
    assert line["message"] == "sms to 138****8000"
    assert line["service"] == "notify"
