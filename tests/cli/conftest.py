"""The gateway in front of the real ingest service, shared with the ingest tests."""

from tests.ingest.integration.conftest import stack  # noqa: F401
