"""A real spreadsheet program for tests: LibreOffice headless recalculation and PDF rendering.

Tests that need it take the ``office`` fixture (tests/conftest.py), which skips with a reason
when ``soffice`` or poppler's ``pdftotext``/``pdfinfo`` are not installed
(``apt-get install -y libreoffice-calc-nogui poppler-utils fonts-wqy-zenhei``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("soffice", "pdftotext", "pdfinfo")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


@dataclass
class Office:
    """One LibreOffice profile (a private one: other processes may run soffice meanwhile)."""

    profile: Path
    work: Path

    def convert_many(self, sources: list[Path], to: str) -> list[Path]:
        """``sources`` converted by LibreOffice to ``to`` (``pdf``, ``xlsx``) in one run, into a
        fresh folder; converting to xlsx recalculates every formula (openpyxl writes no results)."""
        self.runs = getattr(self, "runs", 0) + 1
        out = self.work / f"run{self.runs}"
        out.mkdir(parents=True, exist_ok=True)
        cmd = ["soffice", f"-env:UserInstallation={self.profile.as_uri()}", "--headless", "--norestore",
               "--convert-to", to, "--outdir", str(out), *map(str, sources)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        results = [out / f"{source.stem}.{to}" for source in sources]
        for source, result in zip(sources, results):
            assert result.exists(), f"LibreOffice did not convert {source.name}: {done.stdout} {done.stderr}"
        return results

    def convert(self, source: Path, to: str) -> Path:
        return self.convert_many([source], to)[0]

    def recalculated(self, sources: list[Path]) -> list[Path]:
        return self.convert_many(sources, "xlsx")

    def pdf_pages(self, source: Path) -> list[str]:
        """The text of every printed page of ``source`` (one string per page)."""
        pdf = self.convert(source, "pdf")
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        count = int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))
        return [
            subprocess.run(["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
            for n in range(1, count + 1)
        ]
