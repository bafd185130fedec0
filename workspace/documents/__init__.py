"""Documents: their durable Yjs state, the update log, compaction and exports.

``selectors`` finds documents, says who may read or write one and loads what storage
holds; ``services`` creates documents, appends to the update log and compacts it;
``exports`` renders a document as Fountain, HTML or storyboard JSON.
"""
