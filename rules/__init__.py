"""The freelancer's policy: pure functions over plain data (no I/O, no clock)."""
