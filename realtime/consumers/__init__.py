"""Websocket consumers, one per file.

``base``: what they share (``LimitedJsonConsumer``, the no-layer alias, the storage-outage
reason). ``yjs``: the y-websocket protocol work (``YjsProtocolConsumer``), whose hooks the
document consumer (``document``) fills with one live-document call each. ``project``: the
project room. ``notifications``: the user's inbox.
"""
