"""Proof on real runs: for every fixture, our list → Binaryen's real asyncify pass → a real host
(wasmtime and node) runs correctly; removing any one listed function breaks it detectably;
`--indirect ignore` breaks the fixtures with indirect paths; our list is never larger than what
Binaryen instruments in its own auto mode."""
from __future__ import annotations

from pathlib import Path

import pytest

from asyncify_doctor.analysis.audit import instrumented_names
from asyncify_doctor.runtime.binaryen import AsyncifyOptions, asyncify, backends
from asyncify_doctor.runtime.toolchain import build_all
from proof import ASYNC, EXPECTS, HOSTS, SRC, asyncified, cli_list, failure

INDIRECT = ["callbacks", "table_types", "vtable"]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(SRC, tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(scope="session")
def lists(built: dict[str, Path]) -> dict[str, list[str]]:
    return {name: cli_list(wasm, wasm.with_suffix(".list"), *EXPECTS[name].analyze) for name, wasm in built.items()}


@pytest.mark.parametrize("name", EXPECTS)
def test_list_is_exactly_the_hand_checked_set(name: str, lists: dict[str, list[str]]) -> None:
    exp = EXPECTS[name]
    assert set(lists[name]) == exp.instrument
    assert not set(lists[name]) & exp.not_instrumented


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", EXPECTS)
def test_list_runs_correctly(name: str, host: str, built: dict[str, Path], lists: dict[str, list[str]]) -> None:
    wasm = asyncified(built[name], tuple(lists[name]))
    assert failure(host, wasm, EXPECTS[name]) is None


@pytest.mark.parametrize("name", ["table_types", "deep"])
def test_list_runs_with_wasm_opt_from_npm_too(name: str, built: dict[str, Path], lists: dict[str, list[str]]) -> None:
    if "wasm-opt" not in backends():
        pytest.fail("wasm-opt (npm binaryen) missing: scripts/test runs `npm ci`")
    wasm = asyncified(built[name], tuple(lists[name]), "wasm-opt")
    assert failure("wasmtime", wasm, EXPECTS[name]) is None


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", EXPECTS)
def test_removing_any_listed_function_is_detected(name: str, host: str, built: dict[str, Path],
                                                  lists: dict[str, list[str]]) -> None:
    missed = []
    for fn in lists[name]:
        wasm = asyncified(built[name], tuple(x for x in lists[name] if x != fn))
        if failure(host, wasm, EXPECTS[name]) is None:
            missed.append(fn)
    assert not missed, f"runs still passed without {missed}"


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", INDIRECT)
def test_ignore_indirect_list_breaks(name: str, host: str, built: dict[str, Path], tmp_path: Path) -> None:
    ignore = cli_list(built[name], tmp_path / "ignore.list", "--indirect", "ignore")
    assert set(ignore) < EXPECTS[name].instrument
    wasm = asyncified(built[name], tuple(ignore))
    assert failure(host, wasm, EXPECTS[name]) is not None


@pytest.mark.parametrize("name", EXPECTS)
def test_typed_list_never_larger_than_binaryen_auto_mode(name: str, built: dict[str, Path],
                                                         lists: dict[str, list[str]]) -> None:
    auto = instrumented_names(asyncify(built[name].read_bytes(), AsyncifyOptions(imports=ASYNC)))
    print(f"{name}: asyncify-doctor typed {len(lists[name])}, Binaryen auto {len(auto)}")
    assert set(lists[name]) <= auto


def test_data_buffer_overflow_is_reported(built: dict[str, Path], lists: dict[str, list[str]]) -> None:
    from asyncify_doctor.runtime.host import AsyncifyRunError
    wasm = asyncified(built["deep"], tuple(lists["deep"]))
    for host, run in HOSTS.items():
        with pytest.raises(AsyncifyRunError) as err:
            run(wasm, "run", data_size=1024)
        assert err.value.kind == "data-overflow", (host, err.value)


def test_async_import_in_plain_build_is_reported(built: dict[str, Path]) -> None:
    from asyncify_doctor.runtime.host import AsyncifyRunError
    for host, run in HOSTS.items():
        with pytest.raises(AsyncifyRunError) as err:
            run(built["direct_chain"], "run")
        assert err.value.kind == "not-asyncified" and "read_value" in err.value.frames, (host, err.value)
