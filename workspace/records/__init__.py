"""Citable records: intrinsic ids, licences, uploads, snapshots, restore and the family tree.

A record id is ``trp:rec:1:<sha256 hex>`` of the record's canonical JSON: sorted keys,
no insignificant whitespace, UTF-8 (non-ASCII kept as is). The canonical JSON holds the
content's SHA-256, size and media type and all metadata (kind, title, description,
authors with roles, licence with version and the hash of its grant, creation time,
previous version, cited resources), so anyone with the exported JSON and the content can
recompute both hashes. A work's id is ``trp:work:1:<hash of its first version>``.

``rules`` holds ids, canonical JSON and licences; ``selectors`` the reads (who may read
or contribute, credit, exports, the family tree); ``services`` the writes (uploads, records,
snapshots, restore); ``citations`` the citation formats.
"""
