"""Generated from protos/imaging/common; do not edit: run `make gen`."""
