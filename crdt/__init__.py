"""Pure-Python helpers for the Yjs wire formats (lib0 encoding, y-protocols, update v1)."""
