import sys
from pathlib import Path

# Shared test helpers (rule_fixtures.py, office.py) live beside this file.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from office import Office, missing_tools  # noqa: E402


@pytest.fixture(scope="session")
def office(tmp_path_factory) -> Office:
    """LibreOffice headless for recalculation and PDF rendering; skips when not installed."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"LibreOffice/poppler not installed ({', '.join(missing)}): "
                    "apt-get install -y libreoffice-calc-nogui poppler-utils fonts-wqy-zenhei")
    root = tmp_path_factory.mktemp("office")
    return Office(root / "profile", root / "out")
