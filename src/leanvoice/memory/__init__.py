"""Memory techniques and measurement (SPEC §3); each a small module applied from outside."""
