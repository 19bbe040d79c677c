"""The Slack channel (slack-sdk, imported only when the channel is enabled)."""
