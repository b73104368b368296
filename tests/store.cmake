# store: unit tests (SQLite store: schema, entries, nodes, tokens, bundles,
# CA journal, outbox). No fuzz target: the store parses no untrusted text
# (lists are child tables, not encoded strings).
cairn_unit(store)
