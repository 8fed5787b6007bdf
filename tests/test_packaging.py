"""The wheel installs exactly one import package, ``nianbao``, with everything under it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("nianbao.schemas", "nianbao.workbooks", "nianbao.flows", "nianbao.plugin")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build from a copy of the files git knows (tracked or new, not ignored), as a release would."""
    src = tmp_path_factory.mktemp("src")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        check=True, capture_output=True,
    )
    (built,) = out.glob("nianbao-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top_level_txt = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        declared = z.read(top_level_txt).decode().split()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"nianbao"}
    assert declared == ["nianbao"]
    for package in SUBPACKAGES:
        assert f"{package.replace('.', '/')}/__init__.py" in names
    assert "nianbao/locale/zh_CN/LC_MESSAGES/messages.mo" in names
    assert "nianbao/schemas/demo_county.toml" in names
    # Alembic reads the migrations from the installed package (script_location: nianbao/migrations).
    assert {"nianbao/migrations/env.py", "nianbao/migrations/script.py.mako",
            "nianbao/migrations/versions/0001_first_release.py", "nianbao/migrations/versions/0002_concurrency.py",
            "nianbao/migrations/versions/0003_details.py", "nianbao/migrations/versions/0004_receipts_due.py"} <= set(names)


def test_installing_the_wheel_adds_only_nianbao_to_the_import_path(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    entries = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin")
    assert entries == ["nianbao"]
    # The installed copy, not the repository, answers the imports (run outside the repository).
    code = (
        "import importlib.util, sys; sys.path.insert(0, sys.argv[1]);"
        "import nianbao;"
        f"print(all(importlib.util.find_spec(p).origin.startswith(sys.argv[1]) for p in {SUBPACKAGES!r}));"
        "print(nianbao.__file__.startswith(sys.argv[1]))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code, str(target)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
