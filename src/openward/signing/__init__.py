"""Signatures and attestations: OpenSSF Model Signing bundles, keys, manifests."""
