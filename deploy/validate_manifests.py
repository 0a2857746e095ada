#!/usr/bin/env python3
"""Checks the Kubernetes manifests of deploy/kubernetes/ before they ship.

Offline, so that CI can run it (tests/deploy:validate_manifests_test):

  1. Structure (PyYAML): every object has apiVersion, kind and a name; every
     container an image; volume mounts name declared volumes; ConfigMap
     volumes name a ConfigMap of the same file and keys it has; ports are
     named, unique and in range.
  2. The aoti-executord container: startup, readiness and liveness probes
     that run its own --health-check on the socket it listens on; resource
     requests and limits; its flags from a ConfigMap file passed with
     --flagfile; a containerPort named "metrics" for --metrics-listen's port;
     the socket directory shared with every container that names the
     daemon in AOTI_EXECUTOR_ENDPOINT, and not the root of an emptyDir
     (root-owned, mode 0777 without the sticky bit: the daemon refuses it).
  3. With --daemon=PATH, the ConfigMap's flag file parsed by the real
     aoti-executord (--flagfile=FILE --version), so a misspelt or bad flag
     fails here and not in the pod.
  4. With kubernetes-validate installed (pip), each object against the
     Kubernetes OpenAPI schema it bundles (no network); --require-schema
     makes its absence an error.

  validate_manifests.py [--daemon=PATH] [--require-schema] FILE.yaml...

Prints each problem as "FILE: object: problem" and exits 1 if there is any.
"""

import argparse
import posixpath
import subprocess
import sys
import tempfile

import yaml

DAEMON_NAME = "aoti-executord"
POD_TEMPLATE_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet",
                      "Job"}


def flag_values(lines, name):
    """Values of --name=value among `lines` (args or a flag file's lines)."""
    prefix = "--" + name + "="
    return [line.strip()[len(prefix):] for line in lines
            if line.strip().startswith(prefix)]


def flag_file_lines(text):
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def unix_path(address):
    for prefix in ("unix://", "unix:"):
        if address.startswith(prefix):
            return address[len(prefix):]
    return address if address.startswith("/") else None


def under(path, directory):
    return posixpath.commonpath([path, directory]) == directory


class Checker:
    def __init__(self, path, documents, daemon):
        self.path = path
        self.documents = [d for d in documents if d is not None]
        self.daemon = daemon
        self.problems = []
        self.config_maps = {}

    def problem(self, where, text):
        self.problems.append("%s: %s: %s" % (self.path, where, text))

    def run(self):
        if not self.documents:
            self.problem("file", "no Kubernetes object")
        for document in self.documents:
            where = "%s/%s" % (document.get("kind"),
                               (document.get("metadata") or {}).get("name"))
            for field in ("apiVersion", "kind", "metadata"):
                if not document.get(field):
                    self.problem(where, "no " + field)
            if not (document.get("metadata") or {}).get("name"):
                self.problem(where, "no metadata.name")
            if document.get("kind") == "ConfigMap":
                self.config_maps[document["metadata"]["name"]] = (
                    document.get("data") or {})
        for document in self.documents:
            kind = document.get("kind")
            name = (document.get("metadata") or {}).get("name")
            if kind == "Pod":
                self.check_pod("Pod/%s" % name, document.get("spec") or {})
            elif kind in POD_TEMPLATE_KINDS:
                template = ((document.get("spec") or {}).get("template")
                            or {})
                self.check_pod("%s/%s" % (kind, name),
                               template.get("spec") or {})
        return self.problems

    def check_pod(self, where, spec):
        containers = spec.get("containers") or []
        if not containers:
            self.problem(where, "no containers")
        volumes = {}
        for volume in spec.get("volumes") or []:
            name = volume.get("name")
            if not name:
                self.problem(where, "a volume without a name")
            elif name in volumes:
                self.problem(where, "volume %s declared twice" % name)
            volumes[name] = volume
            config_map = volume.get("configMap")
            if config_map is not None:
                self.check_config_map_volume(
                    "%s volume %s" % (where, name), config_map)
        names = set()
        for container in containers:
            cname = container.get("name")
            here = "%s container %s" % (where, cname)
            if not cname or cname in names:
                self.problem(here, "missing or repeated container name")
            names.add(cname)
            if not container.get("image"):
                self.problem(here, "no image")
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    self.problem(here, "mounts undeclared volume %s"
                                 % mount.get("name"))
                if not str(mount.get("mountPath", "")).startswith("/"):
                    self.problem(here, "mountPath %r is not absolute"
                                 % mount.get("mountPath"))
            self.check_ports(here, container.get("ports") or [])
        daemons = [c for c in containers if self.is_daemon(c)]
        if not daemons:
            self.problem(where, "no %s container" % DAEMON_NAME)
        for daemon in daemons:
            self.check_daemon(where, daemon, containers, volumes)

    def check_config_map_volume(self, where, config_map):
        data = self.config_maps.get(config_map.get("name"))
        if data is None:
            self.problem(where, "ConfigMap %s is not in this file"
                         % config_map.get("name"))
            return
        for item in config_map.get("items") or []:
            if item.get("key") not in data:
                self.problem(where, "ConfigMap %s has no key %s"
                             % (config_map.get("name"), item.get("key")))

    def check_ports(self, where, ports):
        seen = set()
        for port in ports:
            name = port.get("name")
            number = port.get("containerPort")
            if not name:
                self.problem(where, "port %s has no name" % number)
            elif name in seen or len(name) > 15:
                self.problem(where, "port name %s repeated or longer than 15"
                             % name)
            seen.add(name)
            if not isinstance(number, int) or not 0 < number < 65536:
                self.problem(where, "containerPort %r is not a port" % number)

    @staticmethod
    def is_daemon(container):
        image = str(container.get("image", ""))
        return (container.get("name") == DAEMON_NAME
                or image.split("/")[-1].startswith(DAEMON_NAME))

    def flag_file(self, where, container, volumes):
        """The daemon's --flagfile text, from the ConfigMap mounted there."""
        files = flag_values(container.get("args") or [], "flagfile")
        if len(files) != 1:
            self.problem(where, "expected one --flagfile in args, got %d"
                         % len(files))
            return None
        flag_path = files[0]
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name")) or {}
            config_map = volume.get("configMap")
            mount_path = str(mount.get("mountPath", ""))
            if config_map is None or not under(flag_path, mount_path):
                continue
            relative = posixpath.relpath(flag_path, mount_path)
            items = config_map.get("items")
            keys = ({i.get("path"): i.get("key") for i in items} if items
                    else {k: k for k in
                          self.config_maps.get(config_map.get("name"), {})})
            data = self.config_maps.get(config_map.get("name"), {})
            if keys.get(relative) in data:
                return str(data[keys[relative]])
        self.problem(where, "--flagfile=%s is not a file of a mounted "
                     "ConfigMap" % flag_path)
        return None

    def check_daemon(self, pod, container, containers, volumes):
        where = "%s container %s" % (pod, container.get("name"))
        text = self.flag_file(where, container, volumes)
        flags = flag_file_lines(text or "") + list(container.get("args") or [])
        for line in flag_file_lines(text or ""):
            if not line.startswith("--"):
                self.problem(where, "flag file line %r is not a --flag" % line)
        if text is not None and self.daemon:
            self.parse_with_daemon(where, text)
        listens = [unix_path(a) for a in flag_values(flags, "listen")]
        sockets = [p for p in listens if p]
        if not sockets:
            self.problem(where, "no unix --listen socket")
        mounts = {m.get("mountPath"): m.get("name")
                  for m in container.get("volumeMounts") or []}
        for socket in sockets:
            if not any(under(socket, path) for path in mounts):
                self.problem(where, "socket %s is on no volume" % socket)
            self.check_socket_directory(where, socket, mounts, volumes)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.check_probe(where, probe, container.get(probe), sockets)
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(part) or {}).get(resource):
                    self.problem(where, "no resources.%s.%s"
                                 % (part, resource))
        for metrics in flag_values(flags, "metrics-listen"):
            port = int(metrics.rsplit(":", 1)[1])
            named = [p for p in container.get("ports") or []
                     if p.get("containerPort") == port]
            if not named or named[0].get("name") != "metrics":
                self.problem(where, "no containerPort %d named metrics for "
                             "--metrics-listen" % port)
        self.check_clients(pod, containers, sockets, mounts)

    def check_socket_directory(self, where, socket, mounts, volumes):
        # aoti-executord refuses a socket directory another user could write
        # without the sticky bit; an emptyDir's root is one (mode 0777), a
        # subdirectory the daemon creates in it is its own.
        directory = posixpath.dirname(socket)
        volume = volumes.get(mounts.get(directory)) or {}
        if "emptyDir" in volume:
            self.problem(where, "socket %s is in the root of emptyDir volume "
                         "%s (mode 0777, not sticky), which %s refuses: put "
                         "it in a subdirectory, e.g. %s"
                         % (socket, mounts[directory], DAEMON_NAME,
                            posixpath.join(directory, "sockets",
                                           posixpath.basename(socket))))

    def check_probe(self, where, name, probe, sockets):
        if not probe:
            self.problem(where, "no " + name)
            return
        command = (probe.get("exec") or {}).get("command") or []
        if not command or not str(command[0]).endswith("/" + DAEMON_NAME):
            self.problem(where, "%s does not run %s" % (name, DAEMON_NAME))
            return
        checked = [unix_path(a) for a in flag_values(command, "health-check")]
        if not checked or checked[0] not in sockets:
            self.problem(where, "%s checks %s, not a --listen socket %s"
                         % (name, checked, sockets))

    def check_clients(self, pod, containers, sockets, daemon_mounts):
        for container in containers:
            if self.is_daemon(container):
                continue
            env = {e.get("name"): e.get("value")
                   for e in container.get("env") or []}
            endpoint = env.get("AOTI_EXECUTOR_ENDPOINT")
            if endpoint is None:
                continue
            here = "%s container %s" % (pod, container.get("name"))
            path = unix_path(endpoint)
            if path not in sockets:
                self.problem(here, "AOTI_EXECUTOR_ENDPOINT %s is not the "
                             "daemon's socket %s" % (endpoint, sockets))
                continue
            shared = [m for m in container.get("volumeMounts") or []
                      if under(path, str(m.get("mountPath", "")))
                      and daemon_mounts.get(m.get("mountPath")) == m.get("name")]
            if not shared:
                self.problem(here, "does not mount the daemon's socket "
                             "volume at the same path")

    def parse_with_daemon(self, where, text):
        with tempfile.NamedTemporaryFile("w", suffix=".flags") as flags:
            flags.write(text)
            flags.flush()
            run = subprocess.run([self.daemon, "--flagfile=" + flags.name,
                                  "--version"], capture_output=True,
                                 text=True, timeout=60)
        if run.returncode != 0:
            self.problem(where, "%s refuses the flag file: %s"
                         % (DAEMON_NAME, (run.stderr or run.stdout).strip()))


def schema_problems(path, documents, require):
    try:
        import kubernetes_validate  # pylint: disable=import-outside-toplevel
    except ImportError:
        return (["%s: kubernetes-validate is not installed" % path]
                if require else [])
    problems = []
    version = kubernetes_validate.latest_version()
    for document in documents:
        if document is None:
            continue
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append("%s: %s/%s: schema: %s" % (
                path, document.get("kind"),
                (document.get("metadata") or {}).get("name"), error.message))
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemon", help="aoti-executord to parse flags with")
    parser.add_argument("--require-schema", action="store_true")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    problems = []
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as file:
                documents = list(yaml.safe_load_all(file))
        except (OSError, yaml.YAMLError) as error:
            problems.append("%s: %s" % (path, error))
            continue
        problems += Checker(path, documents, args.daemon).run()
        problems += schema_problems(path, documents, args.require_schema)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("%d manifest file(s) valid" % len(args.files))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
