"""The generator server: FLUX image generation with variants, sizes, reference
images, step progress and a cost per image over
``imaging.generator.v1.GeneratorService``."""
