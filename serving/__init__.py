"""Runtime shared by the three servers: bootstrap, health, metrics,
interceptors, error mapping and the micro-batcher. Knows nothing of the
services themselves."""
