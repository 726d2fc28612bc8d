"""Build tools of the repository (code generation)."""
