"""`python -m cxm_ingest [all|api|consume|publish|schedule]`."""

from cxm_common.service import main
from cxm_ingest.service import SPEC


def run() -> None:
    """Run one process of the ingest service."""
    main(SPEC)


if __name__ == "__main__":
    run()
