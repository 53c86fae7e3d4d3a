package meta

import "errors"

// ErrReclaimed means a write's pending record is gone: the write was
// reclaimed (RecoverWrites, an aborted upload) and its object queued for
// deletion, so it must not become a version.
var ErrReclaimed = errors.New("meta: the write was reclaimed and its object queued for deletion")

// SetWriter names the node this DB's writes belong to (Write.Writer), on
// a store several nodes share. RecoverWrites then reclaims only this
// node's writes: the others' pending writes may be in flight on their
// nodes, and reclaiming them would delete the objects of versions about
// to be committed (the cluster test found acknowledged documents whose
// objects were gone after a node restarted). The name must stay the same
// across the node's restarts, so it can reclaim what a crash left. Empty
// (the default, and right for a meta.db, which one process holds):
// RecoverWrites reclaims every pending write. Call it before any write.
func (db *DB) SetWriter(name string) { db.writer = name }
