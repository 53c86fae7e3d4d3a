// Package meta is G-Share's metadata store: departments, users, sessions,
// the folder tree, file versions with their wrapped keys, upload state, the
// change feed, Casbin rules and the audit log. It is written once against
// the transactional key-value interface of storage/kv, so the same logic
// runs on one bbolt file (DATA/meta.db, storage/kv/boltkv: Open, the
// single-node default) and on PostgreSQL (storage/kv/pgkv: OpenStore, for
// several nodes). Of the server's packages only it and boltkv import bbolt
// (the sync client's own state file is storage/filesync/state's).
//
// # Basics
//
// Every exported method runs in its own transaction, so each is atomic and,
// once it returns nil, durable. Methods take and return plain values; nothing
// returned aliases the store's memory.
//
// A store may run an update transaction's function more than once (kv's
// contract: PostgreSQL retries serialization failures), so every update
// here resets what it captures at the top of its function and has effects
// outside the transaction (waking change-feed waiters) only through
// OnCommit. Callbacks given to updating methods (UpdateUser's fn, Rewrap's
// fn, a RuleMapper, ...) may be called again too, and must be free of
// side effects.
//
// Paths arrive already normalised ([gshare/storage/docpath]); meta never
// parses user input. Names are stored as their NFC bytes and compared
// exactly (names are case-sensitive).
//
// # Schema
//
// Buckets, with their keys:
//
//	meta       string → value: schema version, instance id, master-key check
//	depts      dept id → Dept
//	keks       dept ‖ 0 ‖ uint32 version → wrapped department key
//	users      username → User
//	sessions   SHA-256(token) → Session (browser sessions and device tokens)
//	nodes      parent id ‖ name → Node (folders and files; a listing is one prefix scan)
//	nodeidx    node id → parent id ‖ name
//	versions   file id ‖ uint64 number → Version
//	refs       object key → uint32 count of versions using the object
//	pending    object key → Write (an object being written, not yet committed)
//	gc         object key → time it became garbage
//	uploads    upload id → Upload (tus state)
//	changes    nested per department: uint64 seq → Change
//	casbin_rule  SHA-256(line) → line = ptype ‖ 0 ‖ v0 ‖ 0 ‖ … (Casbin policy lines)
//	shares     SHA-256(link token) → Share
//	props      node id → WebDAV dead properties
//	audit, audit_hash, audit_time, audit_state
//	           the audit log: records by index, Merkle tree hashes by storage
//	           index, a time index, and the tree size and latest checkpoint
//
// A schema version and an ordered list of migrations run at Open.
//
// # Caveats
//
// bbolt holds an exclusive lock on the file: only one process may open it.
// Open fails with [ErrLocked] after a short wait when another process (usually
// a running gshare serve) holds it. Snapshot (the hot backup) is bbolt's
// alone; other engines fail it with [ErrNoSnapshot].
//
// Write access to meta.db is full control of the metadata: names, paths,
// plaintext hashes and the audit log live here in the clear (only wrapped
// keys are protected, by the master key kept elsewhere). Records are not
// MACed; rollback of the whole file is detected by the audit log's anchored
// checkpoints instead (docs/security.md).
//
// Deleted records leave their bytes in bbolt's free pages until they are
// reused or the file is compacted.
package meta
