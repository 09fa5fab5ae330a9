"""One module per projector; `all_projectors()` discovers every `Projector` subclass here."""
