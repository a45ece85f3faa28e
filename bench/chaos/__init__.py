"""`make chaos`: the fault scenarios F1–F11 against a system the harness starts itself, each reconciled."""
