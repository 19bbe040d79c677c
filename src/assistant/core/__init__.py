"""Vocabulary shared by every layer: messages, errors, ports, health, metrics."""
