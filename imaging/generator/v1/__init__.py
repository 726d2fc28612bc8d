"""Generated from protos/imaging/generator/v1; do not edit: run `make gen`."""
