"""Generated from protos/imaging/common/v1; do not edit: run `make gen`."""
