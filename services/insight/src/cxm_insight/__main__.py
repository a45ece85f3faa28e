"""`python -m cxm_insight [all|api|consume|publish|schedule]`."""

from cxm_common.service import main
from cxm_insight.service import SPEC


def run() -> None:
    """Run one process of the insight service."""
    main(SPEC)


if __name__ == "__main__":
    run()
