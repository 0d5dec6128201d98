"""deploy/helm/vpnwatch rendered by Helm's own engine (helm-python-sdk wraps Helm v4's Go
SDK; no helm binary) for the default values and ci/full-values.yaml; every object is
validated against the Kubernetes JSON schemas (kubernetes-validate, strict) and the
Prometheus Operator objects against models generated from its CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.deploy.common import CHART, RULES, RUNBOOK_BASE

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed"
)

KUBE_VERSION = "1.30"
NAMESPACE = "ops"
FULL_VALUES = yaml.safe_load((CHART / "ci" / "full-values.yaml").read_text(encoding="utf-8"))
Objects = dict[tuple[str, str], dict[str, Any]]


def render(values: dict[str, Any] | None = None, name: str = "vpnwatch") -> dict[str, str]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered: dict[str, str] = chart.render(values or {}, name=name, namespace=NAMESPACE)
    return rendered


def objects(rendered: dict[str, str]) -> Objects:
    found: Objects = {}
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                key = (doc["kind"], doc["metadata"]["name"])
                assert key not in found, f"duplicate object {key}"
                found[key] = doc
    return found


@pytest.fixture(scope="module")
def default_objects() -> Objects:
    return objects(render())


@pytest.fixture(scope="module")
def full_objects() -> Objects:
    return objects(render(FULL_VALUES))


def unknown_fields(given: Any, known: Any, path: str = "") -> Iterator[str]:
    """Keys present in the input but dropped by the CRD model (pydantic ignores extras)."""
    if isinstance(given, dict) and isinstance(known, dict):
        for key, value in given.items():
            if key not in known:
                yield f"{path}.{key}"
            else:
                yield from unknown_fields(value, known[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(known, list):
        for i, (a, b) in enumerate(zip(given, known, strict=True)):
            yield from unknown_fields(a, b, f"{path}[{i}]")


def validate_crd_object(obj: dict[str, Any]) -> None:
    models = pytest.importorskip(
        "cloudcoil.models.prometheus_operator.v1",
        reason="cloudcoil-models-prometheus-operator is not installed",
    )
    model = getattr(models, obj["kind"]).model_validate(obj)
    dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert list(unknown_fields(obj, dumped)) == [], f"{obj['kind']}: fields not in the CRD"


def validate_all(found: Objects) -> set[str]:
    kinds = set()
    for obj in found.values():
        kinds.add(obj["kind"])
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            validate_crd_object(obj)
        else:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    return kinds


def test_default_values_render_valid_objects(default_objects: Objects) -> None:
    kinds = validate_all(default_objects)
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    }


def test_full_values_render_valid_objects(full_objects: Objects) -> None:
    kinds = validate_all(full_objects)
    assert {"NetworkPolicy", "PrometheusRule", "ServiceMonitor"} <= kinds


PAIR_CONFIG = {
    "lock": {"backend": "dynamodb", "table": "vpnwatch-lock"},
    "backup": FULL_VALUES["config"]["backup"],  # a pair restores from backups both can read
    "sites": FULL_VALUES["config"]["sites"],
}


def test_dynamodb_lock_makes_an_active_standby_pair() -> None:
    found = objects(render({"config": PAIR_CONFIG}))
    validate_all(found)
    deployment = found[("Deployment", "vpnwatch")]["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    pod = deployment["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deployment["selector"]["matchLabels"]
    assert found[("PodDisruptionBudget", "vpnwatch")]["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in found[("PodDisruptionBudget", "vpnwatch")]["spec"]
    # State lives in the table; one ReadWriteOnce volume cannot follow two nodes.
    assert ("PersistentVolumeClaim", "vpnwatch-state") not in found
    (state,) = [v for v in pod["volumes"] if v["name"] == "state"]
    assert state == {"name": "state", "emptyDir": {}}
    assert pod["automountServiceAccountToken"] is False
    assert not any(kind in ("Role", "RoleBinding") for kind, _ in found)
    from vpnwatch.configfile import parse_config

    config = parse_config(found[("ConfigMap", "vpnwatch")]["data"]["config.yaml"], environ={})
    assert config.lock.backend == "dynamodb" and config.lock.table == "vpnwatch-lock"


def test_a_pair_can_prefer_spreading_or_bring_its_own_affinity() -> None:
    preferred = objects(render({"config": PAIR_CONFIG, "antiAffinity": "preferred"}))
    pod = preferred[("Deployment", "vpnwatch")]["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    own = objects(render(FULL_VALUES))[("Deployment", "vpnwatch")]["spec"]["template"]["spec"]
    assert own["affinity"] == FULL_VALUES["affinity"]
    single = objects(render({"config": PAIR_CONFIG, "replicaCount": 1}))
    spec = single[("Deployment", "vpnwatch")]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert "affinity" not in spec["template"]["spec"]


def test_one_replica_without_the_lock(default_objects: Objects) -> None:
    spec = default_objects[("Deployment", "vpnwatch")]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert "affinity" not in spec["template"]["spec"]
    assert default_objects[("PodDisruptionBudget", "vpnwatch")]["spec"]["maxUnavailable"] == 1


def test_two_replicas_without_the_dynamodb_lock_are_refused() -> None:
    with pytest.raises(helm.HelmError, match=r"needs config\.lock\.backend dynamodb"):
        render({"replicaCount": 2})


def test_validation_rejects_a_broken_object(default_objects: Objects) -> None:
    deployment = dict(default_objects[("Deployment", "vpnwatch")])
    deployment["spec"] = {**deployment["spec"], "replicas": "one"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
    monitor = objects(render(FULL_VALUES))[("ServiceMonitor", "vpnwatch")]
    monitor["spec"]["endpoints"][0]["scrapeEvery"] = "5s"
    with pytest.raises(AssertionError, match="fields not in the CRD"):
        validate_crd_object(monitor)


def test_pod_is_locked_down(default_objects: Objects) -> None:
    pod = default_objects[("Deployment", "vpnwatch")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"]["medium"] == "Memory"
    assert "persistentVolumeClaim" in volumes[mounts["/var/lib/vpnwatch"]["name"]]
    assert mounts["/etc/vpnwatch/ssh"]["readOnly"] is True
    assert mounts["/etc/vpnwatch/config"]["readOnly"] is True
    assert container["args"] == ["--config", "/etc/vpnwatch/config/config.yaml"]
    assert default_objects[("Deployment", "vpnwatch")]["spec"]["replicas"] == 1


def test_secrets_are_referenced_not_created(full_objects: Objects) -> None:
    assert not [key for key in full_objects if key[0] == "Secret"]
    pod = full_objects[("Deployment", "vpnwatch")]["spec"]["template"]["spec"]
    ssh = next(v for v in pod["volumes"] if v["name"] == "ssh")["projected"]["sources"]
    assert [s["secret"]["name"] for s in ssh] == ["vpnwatch-ssh-key", "vpnwatch-known-hosts"]
    assert [s["secret"]["items"] for s in ssh] == [
        [{"key": "ssh-privatekey", "path": "id_ed25519"}],
        [{"key": "known_hosts", "path": "known_hosts"}],
    ]


def test_irsa_role_annotation(full_objects: Objects, default_objects: Objects) -> None:
    account = full_objects[("ServiceAccount", "vpnwatch-irsa")]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::123456789012:role/vpnwatch"
    )
    assert "annotations" not in default_objects[("ServiceAccount", "vpnwatch")]["metadata"]
    pod = full_objects[("Deployment", "vpnwatch")]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "vpnwatch-irsa"


def test_selectors_match_the_pods(full_objects: Objects) -> None:
    deployment = full_objects[("Deployment", "vpnwatch")]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = full_objects[("Service", "vpnwatch")]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"],
        full_objects[("PodDisruptionBudget", "vpnwatch")]["spec"]["selector"]["matchLabels"],
        full_objects[("NetworkPolicy", "vpnwatch")]["spec"]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    monitor = full_objects[("ServiceMonitor", "vpnwatch")]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    # job label = app.kubernetes.io/name = "vpnwatch", which VpnwatchDown expects
    assert service["metadata"]["labels"][monitor["jobLabel"]] == "vpnwatch"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9900, "protocol": "TCP"}]


def test_prometheus_rule_is_the_rules_file(full_objects: Objects) -> None:
    rule = full_objects[("PrometheusRule", "vpnwatch")]
    source = RULES.read_text(encoding="utf-8").replace(
        RUNBOOK_BASE, FULL_VALUES["prometheusRule"]["runbookBaseUrl"]
    )
    assert rule["spec"]["groups"] == yaml.safe_load(source)["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_config_yaml_is_accepted_by_the_daemon(
    full_objects: Objects, default_objects: Objects
) -> None:
    from vpnwatch.configfile import parse_config

    text = full_objects[("ConfigMap", "vpnwatch")]["data"]["config.yaml"]
    config = parse_config(text, environ={})
    assert str(config.ssh.key_file) == "/etc/vpnwatch/ssh/id_ed25519"
    assert str(config.ssh.known_hosts) == "/etc/vpnwatch/ssh/known_hosts"
    assert config.metrics.listen == "0.0.0.0:9900"
    assert str(config.state_dir) == "/var/lib/vpnwatch"
    assert [r.name for s in config.sites for r in s.routers] == [
        "hub-r1",
        "hub-r2",
        "spoke1-r1",
        "spoke1-r2",
    ]
    # The defaults lack only the operator's sites.
    data = yaml.safe_load(default_objects[("ConfigMap", "vpnwatch")]["data"]["config.yaml"])
    assert data["sites"] == []
    data["sites"] = FULL_VALUES["config"]["sites"][:1]
    parse_config(yaml.safe_dump(data), environ={})


def test_config_change_rolls_the_pod() -> None:
    def checksum(values: dict[str, Any]) -> str:
        found = objects(render(values))
        annotations = found[("Deployment", "vpnwatch")]["spec"]["template"]["metadata"]
        return str(annotations["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"config": {"logging": {"level": "debug"}}})


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "two"},
        {"unknownKey": True},
        {"serviceAccount": {"roleArn": "not-an-arn"}},
        {"config": {"sites": [{"name": "hub"}]}},
        {"image": {"digest": "latest"}},
        {"config": {"lock": {"backend": "kubernetes"}}},  # not built: dynamodb serves k8s too
        {"antiAffinity": "sometimes"},
    ],
)
def test_values_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_notes_warn_about_missing_sites_and_role() -> None:
    notes = render()["vpnwatch/templates/NOTES.txt"]
    assert "config.sites is empty" in notes and "serviceAccount.roleArn is empty" in notes
    full_notes = render(FULL_VALUES)["vpnwatch/templates/NOTES.txt"]
    assert "WARNING" not in full_notes
