"""Binaryen's and Emscripten's rules, as read in their sources: which imports are async (emcc's own
additions, `env.` for bare names, did-you-mean), trampolines as calls back into the table, code that
drives Asyncify itself (asyncify.* imports), and the only/remove/add lists."""
from __future__ import annotations

from pathlib import Path

from asyncify_doctor.api import run_analysis


def test_bare_import_names_are_env_names_in_emscripten_builds(features_wasm: Path) -> None:
    res = run_analysis(features_wasm, ["sleep_ms", "fetch_*", "no_such_import"], emscripten=True)
    assert [res.module.functions[i].import_key for i in res.selection.functions] == ["env.sleep_ms", "env.fetch_value"]
    assert res.selection.unmatched == ["no_such_import"]


def test_bare_names_match_nothing_outside_emscripten_and_get_a_suggestion(features_wasm: Path) -> None:
    """Binaryen matches `module.name` whole: `sleep_ms` alone matches no import."""
    res = run_analysis(features_wasm, ["sleep_ms", "env.fetch_valeu"], emscripten=False)
    assert res.selection.functions == []
    assert res.selection.suggestions == {"sleep_ms": ["env.sleep_ms"], "env.fetch_valeu": ["env.fetch_value"]}
