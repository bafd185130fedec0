"""Channels transport: websocket consumers, the per-process room hub, fan-out and presence."""
