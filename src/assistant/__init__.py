"""assistant: a self-hosted personal AI assistant for Telegram, Feishu, Slack and WhatsApp."""

__version__ = "0.1.0"
