"""A procedurally generated world of coloured shapes, and the scripts that train
the small BLIP and FLUX checkpoints the project ships in ``models/``."""
