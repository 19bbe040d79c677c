"""Chat platform adapters: parse platform input into InboundMessage, render replies."""
