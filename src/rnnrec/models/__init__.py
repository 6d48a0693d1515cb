"""Next-item models. Each file: a typed config dataclass at the top, then the ``nn.Module``."""
