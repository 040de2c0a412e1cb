"""deploy/: the Kubernetes example holds together with the config loader, the Dockerfile and itself."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from loginprobe import config as cfg
from tests import dockerfile

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
API_VERSIONS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
# Prometheus's own format, not Kubernetes': tests/unit/test_prometheus_rules.py checks it.
NOT_MANIFESTS = {"prometheus-rules.yaml"}


def _manifests() -> list[Path]:
    return sorted(p for p in DEPLOY.glob("*.yaml") if p.name not in NOT_MANIFESTS)


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in _manifests():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(doc, dict), f"{path.name}: not a mapping"
            docs.append((path.name, doc))
    return docs


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _documents() if d["kind"] == kind]
    return doc


def _container() -> dict[str, Any]:
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _config_text() -> str:
    return str(_one("ConfigMap")["data"]["config.toml"])


def _secret_env() -> dict[str, str]:
    return {k: str(v) for k, v in _one("Secret")["stringData"].items()}


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * MEMORY_UNITS[unit]


def _env_keys(table: dict[str, Any], where: str = "") -> Iterator[tuple[str, str]]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _env_keys(value, f"{where}{key}.")
        elif key.endswith("_env"):
            yield f"{where}{key}", value


def test_every_document_has_a_known_kind_and_api_version() -> None:
    docs = _documents()
    kinds = sorted(d["kind"] for _, d in docs)
    assert kinds == sorted(API_VERSIONS)
    for name, doc in docs:
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], name
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "loginprobe", name


def test_kustomization_applies_everything_but_the_placeholder_secret_and_optional_crd() -> None:
    listed = set(_one("Kustomization")["resources"])
    files = {p.name for p in _manifests()}
    assert listed == files - {"kustomization.yaml", "secret.yaml", "servicemonitor.yaml"}


def test_the_configmaps_config_validates_with_the_secrets_env(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_config_text(), encoding="utf-8")
    loaded = cfg.load(path)
    secrets = cfg.resolve_secrets(loaded, loaded.config.hubs, environ=_secret_env())
    assert set(secrets) == set(loaded.config.hubs)
    assert cfg.resolve_routing_key(loaded, environ=_secret_env()) is not None


def test_every_env_secret_the_config_names_comes_from_the_secret() -> None:
    named = dict(_env_keys(tomllib.loads(_config_text())))
    assert named, "the example config names no secrets"
    secret = _one("Secret")
    env = {e["name"]: e for e in _container()["env"]}
    for key, variable in named.items():
        assert variable in env, f"{key} = {variable!r} is not in the Deployment's env"
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"], key
        assert ref["key"] in secret["stringData"], key


def test_the_example_secret_holds_only_obvious_placeholders() -> None:
    for key, value in _secret_env().items():
        assert value.startswith("REPLACE-WITH-"), f"{key}: not an obvious placeholder"


def test_one_port_everywhere_the_config_the_container_the_probes_and_the_image() -> None:
    listen = cfg.MonitorConfig.model_validate(tomllib.loads(_config_text())["monitor"])
    host, port = listen.listen_address
    assert host == "0.0.0.0", "the kubelet and the Service reach the pod's IP, not its loopback"
    (container_port,) = _container()["ports"]
    assert container_port["containerPort"] == port
    named = {container_port["name"]: container_port["containerPort"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = _container()[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert named.get(get["port"], get["port"]) == port, probe
    (service_port,) = _one("Service")["spec"]["ports"]
    assert named.get(service_port["targetPort"], service_port["targetPort"]) == port
    assert _one("Service")["spec"]["type"] == "ClusterIP"
    assert urlsplit(dockerfile.healthcheck_url()).port == port
    assert dockerfile.exposed_ports() == [port]


def test_the_pod_runs_as_the_images_user_with_a_read_only_root() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    uid, gid = dockerfile.user()
    assert uid != 0
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["runAsGroup"] == gid
    assert pod["securityContext"]["fsGroup"] == gid
    assert _container()["securityContext"]["readOnlyRootFilesystem"] is True
    assert _container()["securityContext"]["allowPrivilegeEscalation"] is False


def test_everything_written_lands_on_a_writable_volume() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in _container()["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"]
    monitor = cfg.MonitorConfig.model_validate(tomllib.loads(_config_text())["monitor"])
    state_file = Path(monitor.state.removeprefix("sqlite:///"))
    for written in (state_file.parent, Path(monitor.artifacts_dir)):
        assert written.is_absolute(), written
        volume = next(v for p, v in mounts.items() if written.is_relative_to(p))
        claim = volume["persistentVolumeClaim"]["claimName"]
        assert claim == _one("PersistentVolumeClaim")["metadata"]["name"]


def test_the_config_is_mounted_where_the_image_looks_for_it() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    config_path = Path(dockerfile.env()["LOGINPROBE_CONFIG"])
    mount = next(
        m for m in _container()["volumeMounts"] if m["mountPath"] == str(config_path.parent)
    )
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"]
    assert config_path.name in _one("ConfigMap")["data"]
    env = {e["name"]: e.get("value") for e in _container()["env"]}
    assert env.get("LOGINPROBE_CONFIG", str(config_path)) == str(config_path)


def test_one_replica_recreated_with_memory_for_chromium() -> None:
    spec = _one("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    resources = _container()["resources"]
    request, limit = (_bytes(resources[k]["memory"]) for k in ("requests", "limits"))
    # ~650 MiB PSS measured for one probe's process tree: room for two at once.
    assert 650 * 2**20 < request <= limit
    assert limit >= 2 * 650 * 2**20


def test_the_servicemonitor_scrapes_the_services_metrics_port() -> None:
    monitor, service = _one("ServiceMonitor"), _one("Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_deploy_readme_names_every_file() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in [*DEPLOY.glob("*.yaml"), *DEPLOY.glob("*.json"), *REPLICATED.glob("*.yaml")]:
        assert path.name in text, path.name


def test_the_readmes_prometheusrule_recipe_wraps_the_rules_unchanged() -> None:
    """For the Prometheus Operator: deploy/README.md's shell lines, run without kubectl."""
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    (recipe,) = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "PrometheusRule" in b]
    assert recipe.rstrip().endswith("| kubectl apply -f -"), recipe
    made = subprocess.run(
        ["bash", "-euc", recipe.rstrip().removesuffix("| kubectl apply -f -")],
        cwd=DEPLOY.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    rule = yaml.safe_load(made.stdout)
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "loginprobe"
    rules = yaml.safe_load((DEPLOY / "prometheus-rules.yaml").read_text(encoding="utf-8"))
    assert rule["spec"] == rules


def test_the_endpoints_need_credentials_and_prometheus_sends_the_token() -> None:
    config = tomllib.loads(_config_text())
    auth = cfg.AuthConfig.model_validate(config["monitor"]["auth"])
    assert auth.token_env and auth.password_env and auth.protect_metrics
    # The kubelet's probes send no credentials: /healthz must stay open for them.
    assert not auth.protect_healthz
    (endpoint,) = _one("ServiceMonitor")["spec"]["endpoints"]
    credentials = endpoint["authorization"]["credentials"]
    assert endpoint["authorization"]["type"] == "Bearer"
    assert credentials["name"] == _one("Secret")["metadata"]["name"]
    assert credentials["key"] == auth.token_env and auth.token_env in _secret_env()


# -- deploy/replicated/: two pods on PostgreSQL (CloudNativePG), over the base -------------------

REPLICATED = DEPLOY / "replicated"
DB_URL = "postgresql://loginprobe:db-password-from-cnpg@loginprobe-db-rw.ns:5432/loginprobe"


def _merge(base: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge, as far as these patches use it: maps merge key by key (null
    deletes), lists of named items merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _merge(base.get(key), value)
        return merged
    named = isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in patch)
    if named and isinstance(base, list):
        out = list(base)
        for item in patch:
            at = next((i for i, b in enumerate(out) if b.get("name") == item["name"]), None)
            if at is None:
                out.append(item)
            else:
                out[at] = _merge(out[at], item)
        return out
    return patch


def _replicated() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/replicated/` applies: the base's resources and the overlay's,
    with its patches applied."""
    kustomization = yaml.safe_load((REPLICATED / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        if resource == "../":
            base = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
            paths = [DEPLOY / r for r in base["resources"]]
        else:
            paths = [REPLICATED / resource]
        for path in paths:
            docs += list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for entry in kustomization["patches"]:
        patch = yaml.safe_load((REPLICATED / entry["path"]).read_text(encoding="utf-8"))
        key = (patch["kind"], patch["metadata"]["name"])
        (at,) = [i for i, d in enumerate(docs) if (d["kind"], d["metadata"]["name"]) == key]
        if patch.get("$patch") == "delete":
            del docs[at]
        else:
            docs[at] = _merge(docs[at], patch)
    return docs


def _replicated_one(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in _replicated() if d["kind"] == kind]
    return doc


def _replicated_config(tmp_path: Path, monkeypatch: Any) -> cfg.LoadedConfig:
    path = tmp_path / "config.toml"
    path.write_text(str(_replicated_one("ConfigMap")["data"]["config.toml"]), encoding="utf-8")
    monkeypatch.setenv("LOGINPROBE_STATE", DB_URL)
    return cfg.load(path)


def test_the_replicated_kustomization_names_every_file_beside_it() -> None:
    kustomization = yaml.safe_load((REPLICATED / "kustomization.yaml").read_text())
    named = {*kustomization["resources"], *(p["path"] for p in kustomization["patches"])}
    assert named == {p.name for p in REPLICATED.glob("*.yaml")} - {"kustomization.yaml"} | {"../"}


def test_the_replicated_config_loads_with_the_store_from_cloudnativepgs_secret(
    tmp_path: Path, monkeypatch: Any
) -> None:
    loaded = _replicated_config(tmp_path, monkeypatch)
    assert loaded.config.monitor.state == DB_URL
    assert cfg.resolve_secrets(loaded, loaded.config.hubs, environ=_secret_env())
    assert cfg.resolve_routing_key(loaded, environ=_secret_env()) is not None
    named = dict(_env_keys(tomllib.loads((tmp_path / "config.toml").read_text())))
    (container,) = _replicated_one("Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    cluster = _replicated_one("Cluster")
    for key, variable in named.items():
        if key == "monitor.state_env":
            # The Secret CloudNativePG makes for the cluster's owner: `uri` holds the URL.
            assert env[variable] == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
        else:
            assert env[variable]["name"] == _one("Secret")["metadata"]["name"], key
            assert env[variable]["key"] in _secret_env(), key


def test_two_replicas_rolled_one_at_a_time_and_never_both_evicted() -> None:
    deployment = _replicated_one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0
    pdb = _replicated_one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_replicated_pods_share_no_volume_and_write_only_to_their_own(
    tmp_path: Path, monkeypatch: Any
) -> None:
    assert not [d for d in _replicated() if d["kind"] == "PersistentVolumeClaim"]
    pod = _replicated_one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert all("persistentVolumeClaim" not in v for v in volumes.values())
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    artifacts = Path(_replicated_config(tmp_path, monkeypatch).config.monitor.artifacts_dir)
    volume = next(v for p, v in mounts.items() if artifacts.is_relative_to(p))
    assert "emptyDir" in volume


def test_the_database_is_cloudnativepgs_with_the_owner_the_url_names() -> None:
    cluster = _replicated_one("Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 2
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"]) == ("loginprobe", "loginprobe")
    assert "cloudnative-pg.io" in (REPLICATED / "postgres-cluster.yaml").read_text()
