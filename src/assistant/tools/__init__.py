"""What the model (and slash commands) may call."""
