"""Writing output files so that a partial file never looks complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(out: Path, content: bytes) -> None:
    """Write to a temporary file beside ``out``, fsync, then rename into place; raise
    FileNotFoundError when ``out``'s folder does not exist."""
    directory = out.resolve().parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the folder {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
