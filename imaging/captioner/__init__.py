"""Generated from protos/imaging/captioner; do not edit: run `make gen`."""
