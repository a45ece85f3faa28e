"""`python -m cxm_gateway [all|api|consume|publish|schedule]`."""

from cxm_common.service import main
from cxm_gateway.service import SPEC


def run() -> None:
    """Run one process of the gateway service."""
    main(SPEC)


if __name__ == "__main__":
    run()
