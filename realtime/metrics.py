"""Prometheus metrics of the realtime transport, served at ``/metrics``."""

from prometheus_client import Counter, Gauge, Histogram

OPEN_CONNECTIONS = Gauge("troupe_open_connections", "Open document websocket connections")
DOCUMENTS_IN_MEMORY = Gauge("troupe_rooms_in_memory", "Documents held in memory by this process")
UPDATES_RECEIVED = Counter(
    "troupe_updates_received_total", "Document updates accepted from clients"
)
DELIVERIES = Counter("troupe_deliveries_total", "Frames written to connections")
FANOUT_LATENCY_SECONDS = Histogram(
    "troupe_fanout_latency_seconds",
    "Time from an update reaching its room to the frame written to every local connection",
    buckets=(
        0.0001,
        0.00025,
        0.0005,
        0.00075,
        0.001,
        0.0015,
        0.002,
        0.003,
        0.005,
        0.01,
        0.025,
        0.1,
        1.0,
    ),
)
DOCUMENT_LOAD_SECONDS = Histogram(
    "troupe_room_load_seconds",
    "Time from a room's load step starting to its document rebuilt from storage",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 10.0),
)
DOCUMENT_LOAD_LOG_ENTRIES = Histogram(
    "troupe_room_load_log_entries",
    "Log entries replayed on top of the compacted state when a room loads",
    buckets=(0, 10, 100, 500, 1000, 10_000, 100_000, 1_000_000),
)
PERSIST_QUEUE_DEPTH = Gauge("troupe_persist_queue_depth", "Updates waiting for their group commit")
PERSIST_LAG_SECONDS = Histogram(
    "troupe_persist_lag_seconds",
    "Time from an update's arrival to its commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
PERSIST_FAILURES = Counter(
    "troupe_persist_failures_total", "Group commits that failed and will retry"
)
BUS_SENT = Counter("troupe_bus_messages_sent_total", "Cross-process messages sent", ["kind"])
BUS_RECEIVED = Counter(
    "troupe_bus_messages_received_total", "Cross-process messages received", ["kind"]
)
BUS_GAPS = Counter("troupe_bus_gaps_total", "Cross-process messages detected as lost")
BUS_REPAIRS = Counter("troupe_bus_repairs_total", "Sync exchanges that brought missing content")
CLOSES = Counter("troupe_closes_total", "Connections closed by the server, by code", ["code"])
FORGERIES = Counter("troupe_forged_structs_dropped_total", "Updates with forged client IDs trimmed")
BUS_DROPPED_ON_PURPOSE = Counter(
    "troupe_bus_dropped_on_purpose_total",
    "Updates dropped by TROUPE_TEST_DROP_EVERY_NTH_UPDATE (failure tests only)",
)
RELAYED_STORED = Counter(
    "troupe_relayed_updates_stored_total",
    "Updates another process accepted and relayed that this process stored, because "
    "their origin did not confirm its commit in time (it died, or its database stalled)",
)
STORAGE_PENDING = Counter(
    "troupe_storage_pending_updates_total",
    "Stored updates found not integrable for missing dependencies, on load or compaction "
    "(kept in storage, reported here and in the log)",
    ["step"],
)
UPDATES_OF_DELETED_DOCUMENTS = Counter(
    "troupe_updates_of_deleted_documents_total",
    "Accepted updates not stored because their document was deleted before their commit",
)
JOURNALED_UPDATES = Counter(
    "troupe_journaled_updates_total",
    "Updates written to the local journal at shutdown because they could not be committed",
)
JOURNAL_REPLAYED_UPDATES = Counter(
    "troupe_journal_replayed_updates_total",
    "Journaled updates committed to the database by a later start",
)
DIRECT_SOCKETS = Counter(
    "troupe_direct_sockets_total",
    "Document sockets served through daphne's direct frame path (DirectSocket)",
)
DIRECT_FRAMES = Counter(
    "troupe_direct_frames_total",
    "Client update frames split off the byte stream before autobahn (split_client_frames)",
)
LOOP_LAG_SECONDS = Histogram(
    "troupe_event_loop_lag_seconds",
    "How late the event loop ran a timer due every 50 ms: how long a callback held the loop",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
ADMISSION_WAITING = Gauge(
    "troupe_admission_waiting", "Document connections accepted and waiting for an admission slot"
)
ADMISSIONS_REFUSED = Counter(
    "troupe_admissions_refused_total",
    "Document connections closed 1013 because the admission queue was full",
)
