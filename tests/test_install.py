"""What users install is what we test. `bash scripts/test` (the README's test command, run by CI)
builds the wheel, installs it, not editable, into a fresh .venv and names it in ASYNCIFY_DOCTOR_WHEEL;
these tests check that the package under test is exactly that wheel's content, that the wheel holds
every file the package loads at run time, and that `trace` under node works from that install."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import asyncify_doctor

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src" / "asyncify_doctor"
WAYS = Path(__file__).parent / "fixtures" / "trace" / "instantiate_ways.mjs"
# Files of src/ that are not package content (build products and caches).
NOT_PACKAGE = re.compile(r"(^|/)__pycache__/|\.pyc$|\.so$|\.pyd$")


def wheel() -> Path:
    path = os.environ.get("ASYNCIFY_DOCTOR_WHEEL")
    if not path:
        pytest.skip("run through `bash scripts/test` (the README's test command): it builds and installs the wheel")
    return Path(path)


def source_files() -> list[str]:
    return sorted(p.relative_to(SRC.parent).as_posix() for p in SRC.rglob("*")
                  if p.is_file() and not NOT_PACKAGE.search(p.relative_to(SRC).as_posix()))


def test_the_package_under_test_is_the_installed_wheel() -> None:
    whl = wheel()
    installed = Path(asyncify_doctor.__file__).resolve().parent
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert installed.parent in site, f"asyncify_doctor imported from {installed}, not site-packages"
    assert SRC.resolve() not in (installed, *installed.parents)
    dist = metadata.distribution("asyncify-doctor")
    direct = dist.read_text("direct_url.json")
    assert direct is None or not json.loads(direct).get("dir_info", {}).get("editable"), direct
    record = {}
    with zipfile.ZipFile(whl) as z:
        for row in z.read(f"asyncify_doctor-{dist.version}.dist-info/RECORD").decode().splitlines():
            name, digest, _ = row.rsplit(",", 2)
            if name.startswith("asyncify_doctor/") and digest:
                record[name] = digest
    assert record, "the wheel's RECORD lists no package files"
    for name, digest in record.items():   # every file of the wheel, byte for byte, is what gets imported
        data = (installed.parent / name).read_bytes()
        assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), name


def test_the_wheel_holds_every_file_of_the_package() -> None:
    """Every file in src/asyncify_doctor — the .py modules, the node hosts (.mjs), trace's preload
    (.cjs), the shipped example — is in the wheel: a file left out of package-data breaks a normal
    install (as trace/preload.cjs once did) while an editable one still works."""
    with zipfile.ZipFile(wheel()) as z:
        names = set(z.namelist())
    missing = [f for f in source_files() if f not in names]
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data] in pyproject.toml): {missing}"
    assert any(n.startswith("asyncify_doctor/accel/_native.") and n.endswith((".so", ".pyd")) for n in names), \
        "the wheel has no C accelerator"


def test_every_path_the_package_opens_exists_in_the_install() -> None:
    """The run-time paths the modules compute, and every relative import between the node scripts."""
    from asyncify_doctor.commands.demo import demo_wasm
    from asyncify_doctor.runtime.host import node_host
    from asyncify_doctor.runtime.recorder import PRELOAD
    installed = Path(asyncify_doctor.__file__).parent
    for path in (PRELOAD, node_host.HOST, node_host.JSPI_HOST, demo_wasm()):
        assert Path(path).is_file() and installed in Path(path).parents, path
    scripts = [p for p in installed.rglob("*") if p.suffix in (".mjs", ".cjs", ".js")]
    assert {p.name for p in scripts} >= {"preload.cjs", "asyncify_host.mjs", "jspi_host.mjs", "standard_imports.mjs"}
    for script in scripts:
        for rel in re.findall(r"""(?:from\s+|import\s*\(\s*|require\(\s*)["'](\.{1,2}/[^"']+)["']""", script.read_text()):
            assert (script.parent / rel).is_file(), f"{script.name} imports {rel}, which is not installed"


def test_trace_under_node_from_the_installed_command(tmp_path: Path) -> None:
    """`asyncify-doctor trace` as installed (the console script in the venv) on a real clang-built
    fixture run by a plain node program: the preload is found and the stacks are the fixture's."""
    wheel()
    from asyncify_doctor.runtime.host.node_host import find_node
    from asyncify_doctor.runtime.toolchain import compile_c
    exe = shutil.which("asyncify-doctor", path=str(Path(sys.executable).parent))
    assert exe, "the wheel installed no asyncify-doctor command"
    wasm = compile_c(ROOT / "tests" / "fixtures" / "src" / "direct_chain.c", tmp_path / "direct_chain.wasm")
    out = tmp_path / "stacks.json"
    proc = subprocess.run([exe, "trace", "--imports", "env.sleep_ms,env.fetch_value", "-o", str(out), "--",
                           find_node(), str(WAYS), "instantiate", str(wasm)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    stacks = {(s["import"], tuple(f["name"] for f in s["frames"])): s["count"] for s in doc["stacks"]}
    assert stacks == {("env.fetch_value", ("read_value", "load_config", "run")): 2,
                      ("env.sleep_ms", ("pause", "run")): 1}
    assert "recorded 2 distinct stacks (3 calls)" in proc.stderr
