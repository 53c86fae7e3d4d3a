package metaship

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"gshare/storage/kv"
	"gshare/storage/objstore"
)

// Deferred is an object store whose writes wait until the metadata
// committed before them is shipped: the audit log's anchored checkpoints
// go through it, so that a meta.db rebuilt from the bucket is never older
// than a checkpoint anchored beside it, and the restored server starts
// without the rollback override (docs/audit.md). A write returns at once
// and wakes the Shipper, which makes it after the round that ships what
// preceded it (so the audit log's checkpoints, signed about once a
// second while people work, also bring the recovery point to about a
// second then; meta_ship_interval bounds it when they do not). If
// the process stops first, the write is lost as if never made: the audit
// log anchors its newest checkpoint again at the next start. Reads,
// lists and deletes go straight through.
type Deferred struct {
	objstore.Store
	sh *Shipper
}

type deferredPut struct {
	key   string
	data  []byte
	after uint64 // the journal's last record when it was asked for
}

// maxDeferred bounds the writes held while shipping fails; the oldest go
// first (a checkpoint's anchor is only evidence, a later one covers it).
const maxDeferred = 10000

// Defer returns objs with writes held until shipped.
func (sh *Shipper) Defer(objs objstore.Store) *Deferred { return &Deferred{Store: objs, sh: sh} }

// Put holds the write until the metadata committed before it is shipped.
func (d *Deferred) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("metaship: deferred put %s: %w", key, objstore.ErrShortBody)
	}
	last, err := d.sh.journalLast()
	if err != nil {
		return err
	}
	d.sh.qmu.Lock()
	d.sh.queue = append(d.sh.queue, deferredPut{key: key, data: b, after: last})
	if len(d.sh.queue) > maxDeferred {
		d.sh.queue = d.sh.queue[len(d.sh.queue)-maxDeferred:]
	}
	shipped := d.sh.shipped
	d.sh.qmu.Unlock()
	if last <= shipped {
		return d.sh.flushDeferred(ctx)
	}
	select {
	case d.sh.kicks() <- struct{}{}:
	default:
	}
	return nil
}

// journalLast returns the key of the newest journal record (0: none yet).
func (sh *Shipper) journalLast() (uint64, error) {
	var last uint64
	err := sh.Store.Inner().View(func(tx kv.Tx) error {
		if j := tx.Bucket(bucketJournal); j != nil {
			last = j.Sequence()
		}
		return nil
	})
	return last, err
}

// setShipped records that the journal is shipped up to last.
func (sh *Shipper) setShipped(last uint64) {
	sh.qmu.Lock()
	sh.shipped = max(sh.shipped, last)
	sh.qmu.Unlock()
}

// flushDeferred makes the held writes whose metadata is shipped, in the
// order they were asked for.
func (sh *Shipper) flushDeferred(ctx context.Context) error {
	sh.fmu.Lock()
	defer sh.fmu.Unlock()
	for {
		sh.qmu.Lock()
		if len(sh.queue) == 0 || sh.queue[0].after > sh.shipped {
			sh.qmu.Unlock()
			return nil
		}
		p := sh.queue[0]
		sh.qmu.Unlock()
		if err := sh.Objects.Put(ctx, p.key, bytes.NewReader(p.data), int64(len(p.data))); err != nil {
			return fmt.Errorf("metaship: deferred put %s: %w", p.key, err)
		}
		sh.qmu.Lock()
		if len(sh.queue) > 0 && sh.queue[0].key == p.key && bytes.Equal(sh.queue[0].data, p.data) {
			sh.queue = sh.queue[1:]
		}
		sh.qmu.Unlock()
	}
}
