"""Generated from protos/imaging/gateway; do not edit: run `make gen`."""
