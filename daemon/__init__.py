"""The CLI, the loops, the state database: the only place where things are orchestrated."""
