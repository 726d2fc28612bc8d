"""The gateway: the public entry point. Serves the captioner and generator
contracts unchanged plus ``imaging.gateway.v1`` usage and admin services."""
