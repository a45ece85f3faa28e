"""`python -m cxm_journey [all|api|consume|publish|schedule]`."""

from cxm_common.service import main
from cxm_journey.service import SPEC


def run() -> None:
    """Run one process of the journey service."""
    main(SPEC)


if __name__ == "__main__":
    run()
