"""deploy/validate_manifests.py on deploy/kubernetes/sidecar.yaml: the file
as shipped passes every check (with the Kubernetes schema required, and its
ConfigMap flag file parsed by the real aoti-executord), and each kind of
mistake, made in a copy, is refused with a message that names it."""

import copy
import os
import subprocess
import sys

import pytest
import yaml


def runfile(variable):
    relative = os.environ[variable]
    root = os.environ.get("TEST_SRCDIR")
    workspace = os.environ.get("TEST_WORKSPACE")
    return os.path.join(root, workspace, relative) if root else relative


VALIDATOR = runfile("AOTI_TEST_VALIDATOR")
MANIFEST = runfile("AOTI_TEST_MANIFEST")
DAEMON = runfile("AOTI_TEST_DAEMON")


def validate(path):
    run = subprocess.run(
        [sys.executable, VALIDATOR, "--daemon=" + DAEMON, "--require-schema",
         path], capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


def shipped():
    with open(MANIFEST, encoding="utf-8") as file:
        return list(yaml.safe_load_all(file))


def pod_of(documents):
    return next(d for d in documents if d["kind"] == "Pod")


def config_map_of(documents):
    return next(d for d in documents if d["kind"] == "ConfigMap")


def daemon_of(documents):
    return next(c for c in pod_of(documents)["spec"]["containers"]
                if c["name"] == "aoti-executord")


def test_shipped_manifest_is_valid():
    code, output = validate(MANIFEST)
    assert code == 0, output
    assert "1 manifest file(s) valid" in output


def test_shipped_daemon_has_what_operations_need():
    # Independent of the validator: the fields the deployment relies on.
    documents = shipped()
    daemon = daemon_of(documents)
    flags = config_map_of(documents)["data"]["flags"].splitlines()
    assert "--metrics-listen=0.0.0.0:9464" in flags
    assert {"name": "metrics", "containerPort": 9464,
            "protocol": "TCP"} in daemon["ports"]
    assert daemon["args"] == ["--flagfile=/etc/aoti-executor/flags"]
    probe = ["/usr/local/bin/aoti-executord",
             "--health-check=unix:/run/aoti-executor/sockets/executor.sock"]
    for name in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert daemon[name]["exec"]["command"] == probe
    assert daemon["resources"]["requests"] and daemon["resources"]["limits"]
    # Not the emptyDir's root (0777, not sticky): a directory the daemon
    # creates in it.
    assert ("--listen=unix:/run/aoti-executor/sockets/executor.sock"
            in flags)
    assert {"name": "aoti-executor-run", "mountPath": "/run/aoti-executor"} \
        in daemon["volumeMounts"]


def test_image_flag_file_parses_with_the_daemon():
    # The container's default /etc/aoti-executor/flags (deploy/container/).
    run = subprocess.run(
        [DAEMON, "--flagfile=" + runfile("AOTI_TEST_IMAGE_FLAGS"), "--version"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("aoti-executord ")


def break_readiness(documents):
    del daemon_of(documents)["readinessProbe"]


def break_startup(documents):
    del daemon_of(documents)["startupProbe"]


def break_mount(documents):
    daemon_of(documents)["volumeMounts"][1]["name"] = "aoti-executor-flag"


def break_config_map_name(documents):
    config_map_of(documents)["metadata"]["name"] = "other-flags"


def break_config_map_key(documents):
    data = config_map_of(documents)["data"]
    data["daemon-flags"] = data.pop("flags")


def break_metrics_port_name(documents):
    daemon_of(documents)["ports"][0]["name"] = "prometheus"


def break_metrics_port_number(documents):
    daemon_of(documents)["ports"][0]["containerPort"] = 9465


def unknown_flag(documents):
    config_map_of(documents)["data"]["flags"] += "--log-formt=json\n"


def bad_flag_value(documents):
    config_map_of(documents)["data"]["flags"] += "--worker-threads=0\n"


def no_limits(documents):
    del daemon_of(documents)["resources"]["limits"]


def no_image(documents):
    daemon_of(documents)["image"] = ""


def probe_other_socket(documents):
    daemon_of(documents)["readinessProbe"]["exec"]["command"][1] = (
        "--health-check=unix:/tmp/elsewhere.sock")


def client_other_endpoint(documents):
    client = pod_of(documents)["spec"]["containers"][1]
    client["env"][0]["value"] = "unix:/run/other/executor.sock"


def client_without_socket_volume(documents):
    del pod_of(documents)["spec"]["containers"][1]["volumeMounts"]


def replace_everywhere(value, old, new):
    if isinstance(value, dict):
        return {k: replace_everywhere(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_everywhere(v, old, new) for v in value]
    return value.replace(old, new) if isinstance(value, str) else value


def socket_in_empty_dir_root(documents):
    # Consistent everywhere (flags, probes, client): only the directory is
    # wrong, the emptyDir's root, which the daemon refuses at start.
    documents[:] = replace_everywhere(
        documents, "/run/aoti-executor/sockets/", "/run/aoti-executor/")


def schema_typo(documents):
    daemon_of(documents)["prots"] = daemon_of(documents).pop("ports")


def no_flagfile(documents):
    daemon_of(documents)["args"] = ["--log-level=info"]


@pytest.mark.parametrize("mistake, message", [
    (break_readiness, "no readinessProbe"),
    (break_startup, "no startupProbe"),
    (break_mount, "mounts undeclared volume aoti-executor-flag"),
    (break_config_map_name, "ConfigMap aoti-executor-flags is not in this file"),
    (break_config_map_key, "has no key flags"),
    (break_metrics_port_name, "named metrics"),
    (break_metrics_port_number, "no containerPort 9464"),
    (unknown_flag, "--log-formt"),
    (bad_flag_value, "--worker-threads"),
    (no_limits, "no resources.limits.memory"),
    (no_image, "no image"),
    (probe_other_socket, "not a --listen socket"),
    (client_other_endpoint, "is not the daemon's socket"),
    (client_without_socket_volume, "does not mount the daemon's socket"),
    (socket_in_empty_dir_root, "in the root of emptyDir volume "
     "aoti-executor-run"),
    (schema_typo, "schema: Additional properties are not allowed"),
    (no_flagfile, "expected one --flagfile"),
], ids=lambda value: getattr(value, "__name__", None))
def test_mistake_is_refused(tmp_path, mistake, message):
    documents = copy.deepcopy(shipped())
    mistake(documents)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    code, output = validate(str(path))
    assert code == 1, output
    assert message in output
