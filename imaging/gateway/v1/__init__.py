"""Generated from protos/imaging/gateway/v1; do not edit: run `make gen`."""
