"""Real AOTInductor packages (compiled by compile_models.py with the installed
PyTorch) run through the Python loader against a real aoti-executord that
has the op libraries, in this process, which has not loaded them.

Every output must equal, bit for bit, what the same package gave when run
in-process by torch._inductor.aoti_load_package (<model>.expected.pt).
"""

import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import pytest
import torch

RUNFILES = os.getcwd()
PACKAGES = os.path.join(RUNFILES, os.environ["AOTI_TEST_PACKAGES"])
sys.path.insert(0, os.path.join(RUNFILES, "client_shim", "python"))
import aoti_remote  # noqa: E402

# Packages are extracted here; nothing may be left behind.
TMPDIR = tempfile.mkdtemp(prefix="extract.",
                          dir=os.environ.get("TEST_TMPDIR"))
os.environ["TMPDIR"] = TMPDIR


def package(name):
    return os.path.join(PACKAGES, name + ".pt2")


def expected(name):
    return torch.load(os.path.join(PACKAGES, name + ".expected.pt"))


def clones(tensors):
    return [t.clone() for t in tensors]


def assert_bitwise_equal(got, want, what):
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (what, i, g, w)
        assert torch.equal(g, w), (what, i, g, w)


def start_daemon(socket_path):
    libraries = [os.path.join(RUNFILES, p)
                 for p in os.environ["AOTI_TEST_OPS"].split(":")]
    command = [os.path.join(RUNFILES, os.environ["AOTI_TEST_DAEMON"]),
               "--listen=unix:" + socket_path, "--log-level=warning"]
    command += ["--load-library=" + lib for lib in libraries]
    daemon = subprocess.Popen(command)
    # Ready once the socket accepts; the wait has no deadline of its own:
    # the test's timeout bounds it.
    while True:
        assert daemon.poll() is None, "aoti-executord exited at start"
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(socket_path)
            return daemon
        except OSError:
            time.sleep(0.05)


@pytest.fixture(scope="module")
def endpoint():
    # /tmp: a socket path must fit in sockaddr_un, $TEST_TMPDIR need not.
    directory = tempfile.mkdtemp(prefix="aoti-test.", dir="/tmp")
    socket_path = os.path.join(directory, "executor.sock")
    daemon = start_daemon(socket_path)
    aoti_remote.load_library(os.path.join(RUNFILES,
                                          os.environ["AOTI_TEST_SHIM"]))
    yield "unix:" + socket_path
    # Loaders the tests left in reference cycles (an exception's traceback
    # holds the frame that holds the loader) close their sessions only when
    # collected; collect them, so that the daemon stops with none open
    # whatever the collector's timing.
    gc.collect()
    daemon.terminate()
    assert daemon.wait() == 0
    shutil.rmtree(directory, ignore_errors=True)


def loader(name, endpoint):
    return torch.classes.aoti_remote.ModelPackageLoader(
        package(name), "model", endpoint)


def test_host_has_not_loaded_the_op_libraries(endpoint):
    with open("/proc/self/maps") as maps:
        mapped = maps.read()
    assert "libaoti_test_ops.so" not in mapped
    assert "libaoti_misbehaving_ops.so" not in mapped
    with pytest.raises((AttributeError, RuntimeError)):
        torch.ops.aoti_test.fn_with_default_input


CASES = [("all_inputs", "n4"), ("all_inputs", "n9"), ("custom_ops", "base"), ("dynamic", "n5"), ("dynamic", "n17"),
         ("mlp", "base"), ("crashing", "base"), ("extern_stack", "base")]


@pytest.mark.parametrize("name,case", CASES)
def test_run_equals_the_in_process_run(endpoint, name, case):
    want = expected(name)[case]
    inputs = clones(want["inputs"])
    outputs = loader(name, endpoint).run(inputs)
    assert_bitwise_equal(outputs, want["outputs"], f"{name} {case} outputs")
    # Mutated inputs (custom_ops mutates two) are mutated here too.
    assert_bitwise_equal(inputs, want["inputs_after"], f"{name} {case} inputs")


def model_files(name, suffix):
    with zipfile.ZipFile(package(name)) as archive:
        return [archive.read(n).decode() for n in archive.namelist()
                if "/data/aotinductor/model/" in n and n.endswith(suffix)]


def test_extern_stack_makes_48_proxy_executor_calls():
    # The benchmark divides by this count: 16 blocks of three custom ops,
    # each an extern-kernel node and one proxy executor call of the
    # generated wrapper (none lowered, none folded). That they run in the
    # daemon follows from the host's never having loaded the ops (above).
    (nodes,) = [json.loads(text)["nodes"]
                for text in model_files("extern_stack", ".wrapper.json")]
    targets = [node["node"]["target"] for node in nodes]
    assert len(targets) == 48
    assert targets == [
        "aoti_test::fn_with_default_input",
        "aoti_test::fn_with_tuple_output",
        "aoti_test::fn_with_list_output",
    ] * 16
    (wrapper,) = model_files("extern_stack", ".wrapper.cpp")
    assert wrapper.count("aoti_torch_proxy_executor_call_function(") == 48


def test_one_loader_runs_every_dynamic_size(endpoint):
    model = loader("dynamic", endpoint)
    for case in ["n17", "n5", "n17"]:
        want = expected("dynamic")[case]
        assert_bitwise_equal(model.run(clones(want["inputs"])),
                             want["outputs"], case)


def test_load_package_takes_the_modules_arguments(endpoint):
    for name in ["custom_ops", "mlp"]:
        want = expected(name)["base"]
        model = aoti_remote.load_package(package(name), endpoint=endpoint)
        outputs = model(*clones(want["inputs"]))
        flat = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        assert_bitwise_equal(flat, want["outputs"], name)
        assert model.get_metadata()["AOTI_DEVICE_KEY"] == "cpu"


def test_concurrent_runs_of_one_loader(endpoint):
    model = loader("mlp", endpoint)
    want = expected("mlp")["base"]
    failures = []

    def run():
        for _ in range(5):
            got = model.run(clones(want["inputs"]))
            if not torch.equal(got[0], want["outputs"][0]):
                failures.append(got)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_an_op_that_crashes_mid_model_costs_that_run_only(endpoint):
    model = loader("crashing", endpoint)
    want = expected("crashing")["base"]
    x, _ = clones(want["inputs"])
    with pytest.raises(RuntimeError) as error:
        model.run([x, torch.full((2, 8), -100.0)])
    message = str(error.value)
    assert "extern node 0 (misbehaving::plus_one_or_segfault)" in message
    assert "crashing.pt2" in message
    assert "SIGSEGV" in message or "signal" in message, message
    # The host is fine, and so is the next run.
    assert_bitwise_equal(model.run(clones(want["inputs"])), want["outputs"],
                         "after the crash")


def test_a_failed_extern_call_fails_the_run(endpoint):
    model = loader("throwing", endpoint)
    with pytest.raises(RuntimeError) as error:
        model.run([torch.ones(4)])
    message = str(error.value)
    assert "extern node 0 (aoti_test::always_throws)" in message
    assert "refuses a tensor of 1 dims" in message


def test_bad_inputs_are_refused(endpoint):
    model = loader("mlp", endpoint)
    with pytest.raises(RuntimeError, match="takes 1 input tensors, not 2"):
        model.run([torch.ones(32, 64), torch.ones(1)])


def test_bad_packages_are_refused_by_name(endpoint, tmp_path):
    with pytest.raises(RuntimeError, match="cannot open the package /nonexist"):
        torch.classes.aoti_remote.ModelPackageLoader("/nonexistent.pt2",
                                                     "model", endpoint)
    with pytest.raises(RuntimeError,
                       match="model 'other': no such model; the package "
                       "holds 'model'"):
        torch.classes.aoti_remote.ModelPackageLoader(package("mlp"), "other",
                                                     endpoint)
    not_zip = tmp_path / "not_a_zip.pt2"
    not_zip.write_bytes(b"not a zip archive")
    with pytest.raises(RuntimeError, match="cannot open the package"):
        torch.classes.aoti_remote.ModelPackageLoader(str(not_zip), "model",
                                                     endpoint)


def test_an_entry_outside_the_model_folder_is_refused(endpoint, tmp_path):
    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(package("mlp")) as good, \
            zipfile.ZipFile(evil, "w") as bad:
        prefix = good.namelist()[0].split("/")[0]
        for name in good.namelist():
            bad.writestr(name, good.read(name))
        bad.writestr(prefix + "/data/aotinductor/model/../../escaped", b"x")
    with pytest.raises(RuntimeError, match="would land outside"):
        torch.classes.aoti_remote.ModelPackageLoader(str(evil), "model",
                                                     endpoint)
    assert not (tmp_path / "escaped").exists()


def test_a_package_for_another_device_is_refused(endpoint, tmp_path):
    cuda = tmp_path / "cuda.pt2"
    with zipfile.ZipFile(package("mlp")) as good, \
            zipfile.ZipFile(cuda, "w") as bad:
        for name in good.namelist():
            data = good.read(name)
            if name.endswith("_metadata.json"):
                metadata = json.loads(data)
                assert metadata["AOTI_DEVICE_KEY"] == "cpu"
                metadata["AOTI_DEVICE_KEY"] = "cuda"
                data = json.dumps(metadata).encode()
            bad.writestr(name, data)
    with pytest.raises(RuntimeError,
                       match="compiled for device 'cuda'; aoti_remote runs "
                       "CPU packages only"):
        torch.classes.aoti_remote.ModelPackageLoader(str(cuda), "model",
                                                     endpoint)


def test_an_unreachable_daemon_is_named(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("AOTI_EXECUTOR_CONNECT_TIMEOUT_MS", "200")
    nowhere = "unix:" + str(tmp_path / "nobody.sock")
    with pytest.raises(RuntimeError, match="nobody.sock"):
        torch.classes.aoti_remote.ModelPackageLoader(package("mlp"), "model",
                                                     nowhere)


def test_nothing_is_left_on_disk():
    assert os.listdir(TMPDIR) == []
