package pgkv

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gshare/storage/kv"

	"github.com/jackc/pgx/v5"
)

// root is the parent of top-level buckets (bucket ids start at 1).
const root = 0

type bucketKey struct {
	parent int64
	name   string
}

// tx is one attempt at a transaction.
type tx struct {
	ctx      context.Context
	pg       pgx.Tx
	writable bool
	batch    int
	// err is the first statement that failed: PostgreSQL aborts the
	// transaction then, and kv's reads cannot return it.
	err error
	// ids caches the ids of buckets found or created in this transaction;
	// only this transaction could delete them (it clears the cache then).
	ids      map[bucketKey]int64
	onCommit []func()
}

var _ kv.Tx = (*tx)(nil)

func (t *tx) fail(what string, err error) error {
	err = fmt.Errorf("pgkv: %s: %w", what, err)
	if t.err == nil {
		t.err = err
	}
	return err
}

// failed returns the error of an earlier failed statement, if any.
func (t *tx) failed() error {
	if t.err != nil {
		return fmt.Errorf("pgkv: transaction failed earlier: %w", t.err)
	}
	return nil
}

func (t *tx) Writable() bool     { return t.writable }
func (t *tx) OnCommit(fn func()) { t.onCommit = append(t.onCommit, fn) }

func (t *tx) readOnly(what string) error {
	if !t.writable {
		return fmt.Errorf("pgkv: %s: %w", what, kv.ErrTxReadOnly)
	}
	return t.failed()
}

// lookup returns the id of bucket name under parent, 0 if there is none.
func (t *tx) lookup(parent int64, name []byte) int64 {
	if t.err != nil {
		return 0
	}
	k := bucketKey{parent, string(name)}
	if id, ok := t.ids[k]; ok {
		return id
	}
	var id int64
	err := t.pg.QueryRow(t.ctx, `SELECT id FROM kv_bucket WHERE parent = $1 AND name = $2`, parent, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.fail("find bucket", err)
		return 0
	}
	t.ids[k] = id
	return id
}

func (t *tx) bucket(parent int64, name []byte) kv.Bucket {
	id := t.lookup(parent, name)
	if t.err != nil {
		// The transaction failed (a serialization failure met by an
		// earlier statement, say): its outcome is thrown away, but fn
		// still runs to its end, and meta reads buckets its schema
		// guarantees without a nil check. A bucket bound to the failed
		// transaction reads nothing and refuses writes, instead of a nil
		// that panics. (Bucket id 0 is none: no statement is sent.)
		return &bucket{t: t}
	}
	if id == 0 {
		return nil // an untyped nil, so that callers' nil checks work
	}
	return &bucket{t: t, id: id}
}

// create makes bucket name under parent; exists says what to do when it
// is there already (CreateBucket fails, CreateBucketIfNotExists returns it).
func (t *tx) create(parent int64, name []byte, mustBeNew bool) (kv.Bucket, error) {
	if err := t.readOnly("create bucket"); err != nil {
		return nil, err
	}
	if len(name) == 0 {
		return nil, ErrBucketNameRequired
	}
	if id := t.lookup(parent, name); id != 0 {
		if mustBeNew {
			return nil, fmt.Errorf("pgkv: create bucket %q: %w", name, kv.ErrBucketExists)
		}
		return &bucket{t: t, id: id}, nil
	}
	if t.err != nil {
		return nil, t.failed()
	}
	var id int64
	if err := t.pg.QueryRow(t.ctx, `INSERT INTO kv_bucket (parent, name) VALUES ($1, $2) RETURNING id`,
		parent, name).Scan(&id); err != nil {
		return nil, t.fail("create bucket", err)
	}
	t.ids[bucketKey{parent, string(name)}] = id
	return &bucket{t: t, id: id}, nil
}

func (t *tx) Bucket(name []byte) kv.Bucket { return t.bucket(root, name) }

func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) { return t.create(root, name, true) }

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	return t.create(root, name, false)
}

// DeleteBucket deletes a top-level bucket with its keys and nested buckets.
func (t *tx) DeleteBucket(name []byte) error {
	if err := t.readOnly("delete bucket"); err != nil {
		return err
	}
	id := t.lookup(root, name)
	if t.err != nil {
		return t.failed()
	}
	if id == 0 {
		return fmt.Errorf("pgkv: delete bucket %q: %w", name, kv.ErrBucketNotFound)
	}
	if _, err := t.pg.Exec(t.ctx, `WITH RECURSIVE sub(id) AS (
		SELECT $1::bigint UNION ALL SELECT b.id FROM kv_bucket b JOIN sub ON b.parent = sub.id
	), gone AS (DELETE FROM kv_entry WHERE bucket IN (SELECT id FROM sub))
	DELETE FROM kv_bucket WHERE id IN (SELECT id FROM sub)`, id); err != nil {
		return t.fail("delete bucket", err)
	}
	clear(t.ids)
	return nil
}

func (t *tx) ForEachBucket(fn func(name []byte) error) error { return t.forEachBucket(root, fn) }

// forEachBucket walks the names of parent's buckets in order, a batch at a
// time.
func (t *tx) forEachBucket(parent int64, fn func(name []byte) error) error {
	var after []byte
	for {
		if err := t.failed(); err != nil {
			return err
		}
		var rows pgx.Rows
		var err error
		if after == nil {
			rows, err = t.pg.Query(t.ctx, `SELECT name FROM kv_bucket WHERE parent = $1 ORDER BY name LIMIT $2`, parent, t.batch)
		} else {
			rows, err = t.pg.Query(t.ctx, `SELECT name FROM kv_bucket WHERE parent = $1 AND name > $2 ORDER BY name LIMIT $3`, parent, after, t.batch)
		}
		var names [][]byte
		if err == nil {
			names, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		}
		if err != nil {
			return t.fail("list buckets", err)
		}
		for _, n := range names {
			if err := fn(n); err != nil {
				return err
			}
		}
		if len(names) < t.batch {
			return nil
		}
		after = names[len(names)-1]
	}
}

// bucket is a bucket of a transaction, by id.
type bucket struct {
	t  *tx
	id int64
}

var (
	_ kv.Bucket         = (*bucket)(nil)
	_ kv.SequenceSetter = (*bucket)(nil)
)

func (b *bucket) Get(key []byte) []byte {
	t := b.t
	if t.err != nil {
		return nil
	}
	var v []byte
	err := t.pg.QueryRow(t.ctx, `SELECT v FROM kv_entry WHERE bucket = $1 AND k = $2`, b.id, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		t.fail("get", err)
		return nil
	}
	if v == nil {
		v = []byte{} // an empty value is there: nil means missing
	}
	return v
}

func (b *bucket) Put(key, value []byte) error {
	t := b.t
	if err := t.readOnly("put"); err != nil {
		return err
	}
	if len(key) == 0 {
		return ErrKeyRequired
	}
	if value == nil {
		value = []byte{} // NOT NULL: pgx sends a nil slice as NULL
	}
	if _, err := t.pg.Exec(t.ctx, `INSERT INTO kv_entry (bucket, k, v) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, k) DO UPDATE SET v = EXCLUDED.v`, b.id, key, value); err != nil {
		return t.fail("put", err)
	}
	return nil
}

func (b *bucket) Delete(key []byte) error {
	t := b.t
	if err := t.readOnly("delete"); err != nil {
		return err
	}
	if _, err := t.pg.Exec(t.ctx, `DELETE FROM kv_entry WHERE bucket = $1 AND k = $2`, b.id, key); err != nil {
		return t.fail("delete", err)
	}
	return nil
}

func (b *bucket) Cursor() kv.Cursor { return &cursor{t: b.t, id: b.id} }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.failed()
}

func (b *bucket) Bucket(name []byte) kv.Bucket { return b.t.bucket(b.id, name) }

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	return b.t.create(b.id, name, false)
}

func (b *bucket) ForEachBucket(fn func(name []byte) error) error { return b.t.forEachBucket(b.id, fn) }

func (b *bucket) NextSequence() (uint64, error) {
	t := b.t
	if err := t.readOnly("next sequence"); err != nil {
		return 0, err
	}
	var seq int64
	if err := t.pg.QueryRow(t.ctx, `UPDATE kv_bucket SET seq = seq + 1 WHERE id = $1 RETURNING seq`, b.id).Scan(&seq); err != nil {
		return 0, t.fail("next sequence", err)
	}
	return uint64(seq), nil
}

func (b *bucket) Sequence() uint64 {
	t := b.t
	if t.err != nil {
		return 0
	}
	var seq int64
	if err := t.pg.QueryRow(t.ctx, `SELECT seq FROM kv_bucket WHERE id = $1`, b.id).Scan(&seq); err != nil {
		t.fail("sequence", err)
		return 0
	}
	return uint64(seq)
}

// SetSequence sets the bucket's sequence (kv.Copy carries sequences over).
func (b *bucket) SetSequence(seq uint64) error {
	t := b.t
	if err := t.readOnly("set sequence"); err != nil {
		return err
	}
	if _, err := t.pg.Exec(t.ctx, `UPDATE kv_bucket SET seq = $2 WHERE id = $1`, b.id, int64(seq)); err != nil {
		return t.fail("set sequence", err)
	}
	return nil
}

// Appending: keys go where the primary key index puts them; PostgreSQL
// needs no hint (its B-tree already splits the rightmost page unevenly).
func (b *bucket) Appending() {}

type entry struct{ k, v []byte }

// cursor holds one batch of a bucket's keys, in ascending order, fetched
// forwards or backwards from where it stands. Like bbolt's, Next at the
// end and Prev at the start return nil and leave it on the last or first
// key; a Seek past the last key leaves it after the end.
type cursor struct {
	t       *tx
	id      int64
	rows    []entry
	pos     int    // index in rows; len(rows) after the end
	seek    []byte // the key of the Seek that found nothing
	atFirst bool   // rows begins with the bucket's first key
	atLast  bool   // rows ends with the bucket's last key
	// limit is the size of the next batch read on in the same direction:
	// it starts at the Store's Batch and doubles, up to maxGrowth times
	// that, while a walk goes on, so a long scan (a folder of 100,000
	// entries) takes fewer round trips and a short one reads no more.
	limit int
}

// maxGrowth: a cursor's batches grow to at most maxGrowth times its first.
const maxGrowth = 16

// grow returns the limit of the next batch of a walk that goes on.
func (c *cursor) grow() int {
	c.limit = min(max(c.limit, c.t.batch)*2, c.t.batch*maxGrowth)
	return c.limit
}

var _ kv.Cursor = (*cursor)(nil)

func (c *cursor) at() ([]byte, []byte) {
	if c.pos < 0 || c.pos >= len(c.rows) {
		return nil, nil
	}
	return c.rows[c.pos].k, c.rows[c.pos].v
}

// fetch reads a batch from the bucket: op is "" (from an end), ">", ">="
// or "<" from key; desc reads backwards. The rows come back ascending.
func (c *cursor) fetch(op string, key []byte, desc bool, limit int) ([]entry, bool) {
	t := c.t
	if t.err != nil {
		return nil, false
	}
	order := "ASC"
	if desc {
		order = "DESC"
	}
	q := `SELECT k, v FROM kv_entry WHERE bucket = $1`
	args := []any{c.id}
	if op != "" {
		q += ` AND k ` + op + ` $2`
		args = append(args, key)
	}
	q += fmt.Sprintf(` ORDER BY k %s LIMIT %d`, order, limit)
	rows, err := t.pg.Query(t.ctx, q, args...)
	var es []entry
	if err == nil {
		es, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (entry, error) {
			var e entry
			err := r.Scan(&e.k, &e.v)
			if e.v == nil {
				e.v = []byte{}
			}
			return e, err
		})
	}
	if err != nil {
		t.fail("cursor", err)
		return nil, false
	}
	if desc {
		slices.Reverse(es)
	}
	return es, true
}

func (c *cursor) First() ([]byte, []byte) {
	c.limit = c.t.batch
	es, ok := c.fetch("", nil, false, c.limit)
	c.rows, c.pos, c.seek = es, 0, nil
	c.atFirst, c.atLast = true, ok && len(es) < c.t.batch
	return c.at()
}

func (c *cursor) Last() ([]byte, []byte) {
	c.limit = c.t.batch
	es, ok := c.fetch("", nil, true, c.limit)
	c.rows, c.pos, c.seek = es, len(es)-1, nil
	c.atFirst, c.atLast = ok && len(es) < c.t.batch, true
	return c.at()
}

func (c *cursor) Seek(key []byte) ([]byte, []byte) {
	c.limit = c.t.batch
	es, ok := c.fetch(">=", key, false, c.limit)
	c.rows, c.pos, c.seek = es, 0, nil
	if len(es) == 0 {
		c.seek = slices.Clone(key)
	}
	c.atFirst, c.atLast = false, ok && len(es) < c.t.batch
	return c.at()
}

func (c *cursor) Next() ([]byte, []byte) {
	if c.pos+1 < len(c.rows) {
		c.pos++
		return c.at()
	}
	if c.atLast || len(c.rows) == 0 {
		return nil, nil // stays on the last key
	}
	limit := c.grow()
	es, ok := c.fetch(">", c.rows[len(c.rows)-1].k, false, limit)
	if len(es) == 0 {
		c.atLast = ok
		return nil, nil
	}
	c.rows, c.pos, c.seek = es, 0, nil
	c.atFirst, c.atLast = false, len(es) < limit
	return c.at()
}

func (c *cursor) Prev() ([]byte, []byte) {
	if c.pos-1 >= 0 && c.pos-1 < len(c.rows) {
		c.pos--
		return c.at()
	}
	if c.atFirst {
		return nil, nil // stays on the first key
	}
	var below []byte
	switch {
	case len(c.rows) > 0:
		below = c.rows[0].k
	case c.seek != nil:
		below = c.seek
	default:
		return nil, nil
	}
	limit := c.grow()
	es, ok := c.fetch("<", below, true, limit)
	if len(es) == 0 {
		c.atFirst = ok
		return nil, nil
	}
	c.atLast = len(c.rows) == 0 && c.atLast
	c.rows, c.pos, c.seek = es, len(es)-1, nil
	c.atFirst = len(es) < limit
	return c.at()
}
