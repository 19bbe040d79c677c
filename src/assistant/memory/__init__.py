"""Long-term memory: an offline embedder and Chroma collections, one per namespace."""
