package kv

import "errors"

// ErrUnavailable is wrapped by an engine's error when the store could not
// be reached (no connection, or no server that takes writes, for as long
// as the engine tries): nothing was done, and the same request may be
// made again later. The API answers it 503 with Retry-After.
var ErrUnavailable = errors.New("kv: the metadata store is unreachable")

// ErrOutcomeUnknown is wrapped by Update's error when the connection was
// lost while the commit was under way: the transaction may or may not
// have been committed, and the engine did not run it again. Whoever asked
// must look before doing it again.
var ErrOutcomeUnknown = errors.New("kv: connection lost during the commit: outcome unknown")
