"""Channels transport: websocket consumers, the per-process hub, fan-out and presence."""
