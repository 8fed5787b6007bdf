"""Write a workbook so that readers only ever see the old file or the complete new one."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from openpyxl import Workbook


def save_atomically(wb: Workbook, path: Path | str) -> Path:
    """Save next to ``path`` and move into place; on failure remove the temporary file.

    The temporary file is created by openpyxl like any file (so the usual umask applies, not
    mkstemp's owner-only mode) and, when replacing a file, takes over that file's mode. Its
    name starts with ``.~`` so the inbox listing and Excel users pass it over.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".~{path.stem}.{uuid.uuid4().hex[:12]}.xlsx.tmp")
    try:
        wb.save(tmp)
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
