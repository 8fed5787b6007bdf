"""Prefect flows. Embedded defaults: no telemetry from the temporary local server."""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
