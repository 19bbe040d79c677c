"""The Feishu (Lark) channel."""
