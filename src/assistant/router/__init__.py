"""submit → access → slash command or agent turn → reply through the message's channel."""
