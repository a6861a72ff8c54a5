"""Shared test fixtures: real binaries built from sources in the repo by real tools."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# The suite is a gate: its property tests draw the same examples on every run, so CI cannot fail on
# a new random draw and a failure reproduces as it is. HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("gate", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))

sys.path.insert(0, str(Path(__file__).parent))
from independent import validate, wasm_tools  # noqa: E402

TESTS = Path(__file__).parent
WAT = TESTS / "wat"
ROOT = TESTS.parent
CACHE = Path(os.environ.get("ASYNCIFY_DOCTOR_CACHE", Path.home() / ".cache" / "asyncify-doctor"))


def _stale_install() -> str | None:
    """Run directly (not through scripts/test), pytest tests whatever asyncify_doctor is installed:
    a wheel installed by an earlier `bash scripts/test` does not see later edits of src/. Say so
    instead of passing or failing on old code."""
    import asyncify_doctor
    installed = Path(asyncify_doctor.__file__).resolve().parent
    src = (ROOT / "src" / "asyncify_doctor").resolve()
    if installed == src or os.environ.get("ASYNCIFY_DOCTOR_WHEEL") or not src.is_dir():
        return None
    for f in sorted(src.rglob("*")):
        rel = f.relative_to(src)
        if not f.is_file() or "__pycache__" in rel.parts or f.suffix in (".pyc", ".so", ".pyd"):
            continue
        there = installed / rel
        if not there.is_file() or there.read_bytes() != f.read_bytes():
            return (f"the installed asyncify_doctor ({installed}) is not this checkout's src/ ({rel} differs): "
                    "rerun `bash scripts/test` (it builds and installs the wheel), or `pip install -e .` "
                    "to test src/ directly while editing")
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    why = _stale_install()
    if why is not None:
        pytest.exit(why, returncode=4)


@pytest.fixture(scope="session")
def wat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wat")


def build_wat(name: str, out_dir: Path) -> Path:
    """Assemble tests/wat/NAME.wat with wasm-tools (an independent encoder) and validate it."""
    out = out_dir / f"{name}.wasm"
    if not out.exists():
        subprocess.run([wasm_tools(), "parse", str(WAT / f"{name}.wat"), "-o", str(out)], check=True)
        assert validate(out) is None, validate(out)
    return out


@pytest.fixture(scope="session")
def features_wasm(wat_dir: Path) -> Path:
    return build_wat("features", wat_dir)


@pytest.fixture(scope="session")
def memory64_wasm(wat_dir: Path) -> Path:
    return build_wat("memory64", wat_dir)


def php_wasm(flavour: str) -> Path:
    """The real PHP 8.3 build from @php-wasm/node-8-3@3.1.54 (opt-in: ASYNCIFY_DOCTOR_SLOW=1)."""
    if not os.environ.get("ASYNCIFY_DOCTOR_SLOW"):
        pytest.skip("real PHP builds are opt-in: set ASYNCIFY_DOCTOR_SLOW=1")
    sys.path.insert(0, str(ROOT / "bench"))
    from php import php_wasm as fetch  # bench/php.py downloads into the cache
    return fetch(flavour)
