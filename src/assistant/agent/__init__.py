"""One turn: the model and the tools, until there is a reply."""
