"""The `cxm` command line: drives the whole system without importing any service."""
