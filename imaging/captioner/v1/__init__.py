"""Generated from protos/imaging/captioner/v1; do not edit: run `make gen`."""
