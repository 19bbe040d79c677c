"""SSH: host inventory, pinned host keys, the command executor."""
