"""Model layer: embedders, chat providers and token counting."""
