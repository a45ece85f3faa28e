"""One adapter per webhook source: config, signature check, parsing into canonical records, native replies."""
