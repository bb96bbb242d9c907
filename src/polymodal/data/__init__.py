"""Data: the embedded `shapes` world and users' manifests."""
