"""The captioner server: BLIP captions, streamed tokens, embeddings, matching
and cross-attention maps over ``imaging.captioner.v1.CaptionerService``."""
