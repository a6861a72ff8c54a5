"""One pinned commit of a public GitHub repository, unpacked into the cache once: from a local git
directory (a mirror) when given, else from codeload.github.com. Shared by the benchmarks that need a
third party's files (bench/callgraph_soundness.py, bench/spec_testsuite.py)."""
from __future__ import annotations

import io
import subprocess
import tarfile
import urllib.request
from pathlib import Path
from typing import Callable


def unpack(repo_url: str, commit: str, dest: Path, keep: Callable[[tuple[str, ...]], bool],
           git_dir: str | None = None, paths: tuple[str, ...] = ()) -> None:
    """Unpack the files of `commit` whose path parts `keep` accepts into `dest` (written to a `.part`
    folder first, renamed when whole)."""
    if git_dir:
        data = subprocess.run(["git", f"--git-dir={git_dir}", "archive", commit, *paths],
                              check=True, capture_output=True).stdout
        strip = 0
    else:
        url = f"https://codeload.github.com/{repo_url}/tar.gz/{commit}"
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - a fixed https URL
            data = resp.read()
        strip = 1   # codeload's tarballs put everything under REPO-COMMIT/
    part = dest.with_suffix(".part")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts[strip:]
            if parts and member.isfile() and keep(parts):
                out = part.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                out.write_bytes(src.read())
    part.rename(dest)
