"""Pure decision code: (samples, state, config, now) -> decisions. No I/O, no clock."""
