"""The inbox: where townships drop their returns, addressed by an fsspec URL.

A local folder by default; ``smb://``, ``sftp://``, ``s3://`` … work the same through fsspec
(with the matching fsspec backend installed). Temporary and lock files that Excel, WPS and
LibreOffice leave beside an open workbook are skipped.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import fsspec
from fsspec.implementations.local import LocalFileSystem

RETURN_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
# What townships really send instead of a return: listed too, so each gets a receipt and a
# 审核问题 row saying what to send instead (see ``nianbao.workbooks.reader.WRONG_FORMATS``).
OTHER_SUFFIXES = (".et", ".ett", ".wps", ".numbers", ".csv", ".pdf", ".jpg", ".jpeg", ".png", ".heic", ".bmp", ".tif", ".tiff", ".zip", ".rar", ".7z")
# Excel/WPS owner files (~$x.xlsx), LibreOffice locks (.~lock.x.xlsx#), hidden and temp files.
_SKIP = re.compile(r"^(~\$|\.~lock|\.|~)|\.tmp$", re.IGNORECASE)


@dataclass(frozen=True)
class InboxFile:
    url: str  # full fsspec URL, or a local path for local folders
    name: str  # file name as the township saved it
    size: int
    modified: datetime  # when it landed in the inbox: the "received" time


def is_return_name(name: str) -> bool:
    return not _SKIP.search(name) and name.lower().endswith(RETURN_SUFFIXES + OTHER_SUFFIXES)


def list_returns(inbox: str) -> list[InboxFile]:
    """Every candidate return below ``inbox``, oldest first (so a resubmission is seen last)."""
    fs, root = fsspec.core.url_to_fs(inbox)
    if not fs.exists(root):
        return []
    found = []
    for path, info in fs.find(root, detail=True).items():
        name = PurePosixPath(path).name
        if info.get("type") == "directory" or not is_return_name(name):
            continue
        found.append(InboxFile(_url(fs, path, inbox), name, int(info.get("size") or 0), _mtime(info)))
    return sorted(found, key=lambda f: (f.modified, f.name))


def _url(fs: fsspec.AbstractFileSystem, path: str, inbox: str) -> str:
    if isinstance(fs, LocalFileSystem):
        return path
    return fs.unstrip_protocol(path)


def _mtime(info: dict) -> datetime:
    for key in ("mtime", "LastModified", "last_modified", "modified", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
    return datetime.now(timezone.utc)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def local_copy(file: InboxFile) -> Iterator[Path]:
    """A local path to read the file from: the file itself for a local inbox, else a temp copy."""
    fs, path = fsspec.core.url_to_fs(file.url)
    if isinstance(fs, LocalFileSystem):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="nianbao-") as tmp:
        target = Path(tmp) / file.name
        with fs.open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        yield target
