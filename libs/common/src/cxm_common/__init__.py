"""Infrastructure shared by every cxm service; no business meaning lives here."""
