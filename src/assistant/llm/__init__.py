"""Model client: provider wire formats, fallback, streaming, usage."""
