"""cxm actions: close-the-loop actions, SLAs and measured impact."""
