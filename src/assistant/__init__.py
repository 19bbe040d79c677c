"""assistant: a self-hosted personal AI assistant for Telegram and Feishu."""

__version__ = "0.1.0"
