"""The CI slice of bench/fuzz.py: a few hundred inputs per reader, zero tracebacks, the C and
Python scanners agreeing on every mutant. `ASYNCIFY_DOCTOR_FUZZ=10000` runs the long version."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import fuzz  # noqa: E402

N = int(os.environ.get("ASYNCIFY_DOCTOR_FUZZ", "300"))


def test_decoder_never_crashes_and_scanners_agree() -> None:
    stats = fuzz.fuzz_decoder(fuzz.seeds(), N, random.Random(7), validate=N <= 300)
    assert stats["crashes"] == 0 and stats["disagreements"] == 0, stats
    assert stats["rejected"] > N // 2


def test_list_reader_and_trace_parser_never_crash() -> None:
    stats = fuzz.fuzz_text(N, random.Random(11))
    assert stats["list reader"]["crashes"] == 0 and stats["trace parser"]["crashes"] == 0, stats
    assert stats["list reader"]["rejected"] > 0 and stats["trace parser"]["crashes_found"] > 0
