"""Generated from protos/imaging/generator; do not edit: run `make gen`."""
