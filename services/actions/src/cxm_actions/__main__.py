"""`python -m cxm_actions [all|api|consume|publish|schedule]`."""

from cxm_actions.service import SPEC
from cxm_common.service import main


def run() -> None:
    """Run one process of the actions service."""
    main(SPEC)


if __name__ == "__main__":
    run()
