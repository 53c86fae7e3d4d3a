package uploads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/keys"
	"gshare/storage/kv"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
)

// countingRecords counts the reads of upload records.
type countingRecords struct {
	Records
	reads atomic.Int64
}

func (c *countingRecords) Upload(id string) (meta.Upload, error) {
	c.reads.Add(1)
	return c.Records.Upload(id)
}

type world struct {
	s    *Store
	docs *docstore.Store
	db   *meta.DB
	rec  *countingRecords
	now  time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, nil)
}

// newWorldWith is newWorld with the object store wrapped by wrap.
func newWorldWith(t *testing.T, wrap func(objstore.MultipartStore) objstore.MultipartStore) *world {
	t.Helper()
	var objs objstore.MultipartStore
	objs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		objs = wrap(objs)
	}
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ring, err := keys.NewRing(db, crypt.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	docs := docstore.New(db, objs, ring, nil)
	if _, err := docs.CreateDept("finance", "Finance"); err != nil {
		t.Fatal(err)
	}
	w := &world{docs: docs, db: db, rec: &countingRecords{Records: db}, now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	w.s = New(w.rec, docs, Options{Expiry: time.Hour, Now: func() time.Time { return w.now }})
	return w
}

func path(t *testing.T, s string) docpath.Path {
	t.Helper()
	p, err := docpath.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func random(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// open takes an upload for a test request.
func (w *world) open(t *testing.T, id string) (*meta.Upload, func()) {
	t.Helper()
	u, release, err := w.s.Open(t.Context(), id, "ed", nil)
	if err != nil {
		t.Fatal(err)
	}
	return u, release
}

// send writes data from the upload's offset in one request and returns
// the record after it.
func (w *world) send(t *testing.T, id string, data []byte) *meta.Upload {
	t.Helper()
	u, release := w.open(t, id)
	defer release()
	n, err := w.s.Write(t.Context(), u, u.Offset, iotest.HalfReader(bytes.NewReader(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("write of %d bytes at %d: %d, %v", len(data), u.Offset, n, err)
	}
	return u
}

func (w *world) finish(t *testing.T, id string) meta.Version {
	t.Helper()
	u, release := w.open(t, id)
	defer release()
	v, err := w.s.Finish(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (w *world) read(t *testing.T, v meta.Version) []byte {
	t.Helper()
	rc, err := w.docs.Open(t.Context(), v, 0, v.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChunksOfEveryShape sends documents in chunks that end mid-part, on
// part boundaries and in tiny pieces: staging blobs carry what falls short
// of a part (never more than maxStages of them), parts are recorded in
// order, and the document comes out whole.
func TestChunksOfEveryShape(t *testing.T) {
	P := int(crypt.DefaultPartSize)
	for _, tc := range []struct {
		name   string
		size   int
		chunks []int // the last chunk takes the rest
	}{
		{"one request", 2*P + 100, nil},
		{"ends mid-part", 2*P + 100, []int{P / 3, P / 3, P}},
		{"on part boundaries", 3 * P, []int{P, P}},
		{"tiny chunks", P + 10, []int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}},
		{"empty", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			data := random(tc.size)
			created, err := w.s.Create("ed", path(t, "/finance/"+tc.name), int64(tc.size), nil)
			if err != nil {
				t.Fatal(err)
			}
			u := &created
			off := 0
			for _, c := range tc.chunks {
				u = w.send(t, u.ID, data[off:off+c])
				off += c
				if len(u.Stages) > maxStages {
					t.Fatalf("%d staging blobs", len(u.Stages))
				}
				if u.Offset != int64(off) || u.Committed()+stagedBytes(u) != u.Offset {
					t.Fatalf("offset %d (parts %d, staged %d), sent %d", u.Offset, u.Committed(), stagedBytes(u), off)
				}
			}
			if off < len(data) {
				w.send(t, u.ID, data[off:])
			}
			v := w.finish(t, u.ID)
			if got := w.read(t, v); !bytes.Equal(got, data) || v.SHA256 != sha256.Sum256(data) {
				t.Fatalf("document of %d bytes read back as %d", len(data), len(got))
			}
			if _, err := w.s.Get(u.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("upload after finish: %v", err)
			}
		})
	}
}

func stagedBytes(u *meta.Upload) int64 {
	var n int64
	for _, s := range u.Stages {
		n += s.Length
	}
	return n
}

// TestDeferredLength holds back a whole part until the length is known,
// since its last segment may be the document's last.
func TestDeferredLength(t *testing.T) {
	w := newWorld(t)
	P := int(crypt.DefaultPartSize)
	data := random(2 * P)
	u, err := w.s.Create("ed", path(t, "/finance/deferred"), -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	u2 := w.send(t, u.ID, data[:P])
	if len(u2.Parts) != 0 || stagedBytes(u2) != int64(P) {
		t.Fatalf("a whole part with the length unknown: %d parts, %d staged", len(u2.Parts), stagedBytes(u2))
	}
	u2 = w.send(t, u.ID, data[P:])
	if len(u2.Parts) != 1 {
		t.Fatalf("after another byte came: %d parts", len(u2.Parts))
	}
	h, release := w.open(t, u.ID)
	for _, bad := range []int64{int64(P), 1 << 50} {
		if err := w.s.DeclareLength(h, bad); !errors.Is(err, ErrLength) {
			t.Fatalf("DeclareLength(%d) = %v", bad, err)
		}
	}
	if err := w.s.DeclareLength(h, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := w.s.DeclareLength(h, int64(len(data))); !errors.Is(err, ErrLength) {
		t.Fatalf("declaring twice: %v", err)
	}
	release()
	v := w.finish(t, u.ID)
	if !bytes.Equal(w.read(t, v), data) {
		t.Fatal("document differs")
	}
}

// TestRecover finishes an upload whose last byte arrived before a crash
// cut off its commit.
func TestRecover(t *testing.T) {
	w := newWorld(t)
	data := random(3 << 20)
	u, _ := w.s.Create("ed", path(t, "/finance/crash"), int64(len(data)), nil)
	w.send(t, u.ID, data)
	n, err := w.s.Recover(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	node, err := w.db.Lookup(path(t, "/finance/crash"))
	if err != nil || node.SHA256 != sha256.Sum256(data) {
		t.Fatalf("after recovery: %+v %v", node, err)
	}
	// The upload's write is no longer pending, nor its object garbage.
	if n, _ := w.db.RecoverWrites(w.now.Add(time.Hour)); n != 0 {
		t.Fatalf("%d pending writes after the commit", n)
	}
}

// TestChecksumAndPrecondition: an upload whose bytes do not match their
// announced SHA-256, or whose if_match no longer holds, is discarded.
func TestChecksumAndPrecondition(t *testing.T) {
	w := newWorld(t)
	data := random(1000)
	wrong := hex.EncodeToString(make([]byte, 32))
	u, err := w.s.Create("ed", path(t, "/finance/torn"), 1000, map[string]string{"sha256": wrong})
	if err != nil {
		t.Fatal(err)
	}
	w.send(t, u.ID, data)
	h, release := w.open(t, u.ID)
	if _, err := w.s.Finish(t.Context(), h); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Finish of a torn file = %v", err)
	}
	release()
	if _, err := w.s.Get(u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a torn upload lingers: %v", err)
	}
	if _, err := w.s.Create("ed", path(t, "/finance/bad"), 1, map[string]string{"sha256": "zz"}); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("malformed sha256 metadata: %v", err)
	}
}

// TestOneReadPerRequest: a request reads its upload's record once, when it
// takes the upload; writing, staging, recording parts and finishing keep
// that copy current.
func TestOneReadPerRequest(t *testing.T) {
	w := newWorld(t)
	P := int(crypt.DefaultPartSize)
	data := random(2*P + 99)
	u, _ := w.s.Create("ed", path(t, "/finance/reads"), int64(len(data)), nil)
	for _, chunk := range [][]byte{data[:P/2], data[P/2 : P+P/2], data[P+P/2:]} {
		before := w.rec.reads.Load()
		h, release := w.open(t, u.ID)
		if _, err := w.s.Write(t.Context(), h, h.Offset, bytes.NewReader(chunk)); err != nil {
			t.Fatal(err)
		}
		if h.Offset == h.Size {
			if _, err := w.s.Finish(t.Context(), h); err != nil {
				t.Fatal(err)
			}
		}
		release()
		if n := w.rec.reads.Load() - before; n != 1 {
			t.Fatalf("a request read the upload record %d times", n)
		}
	}
}

// TestLocks: a request for an upload another request holds asks it to let
// go and waits; another user's request does neither; an expired upload in
// use is not swept from under its request.
func TestLocks(t *testing.T) {
	w := newWorld(t)
	u, _ := w.s.Create("ed", path(t, "/finance/locked"), 10, nil)
	interrupted := make(chan struct{}, 1)
	_, release, err := w.s.Open(t.Context(), u.ID, "ed", func() { interrupted <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.s.Open(t.Context(), u.ID, "mallory", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user's Open = %v", err)
	}
	select {
	case <-interrupted:
		t.Fatal("another user interrupted the owner's request")
	default:
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	if _, _, err := w.s.Open(ctx, u.ID, "ed", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Open while held = %v", err)
	}
	cancel()
	<-interrupted
	w.now = w.now.Add(2 * time.Hour)
	if n, err := w.s.Sweep(t.Context()); err != nil || n != 0 {
		t.Fatalf("Sweep of an upload in use = %d, %v", n, err)
	}
	done := make(chan error)
	go func() {
		_, r, err := w.s.Open(t.Context(), u.ID, "ed", nil)
		if err == nil {
			r()
		}
		done <- err
	}()
	<-interrupted
	release()
	if err := <-done; err != nil {
		t.Fatalf("Open after the holder let go = %v", err)
	}
	if n, err := w.s.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
}

// TestLocksNewestWins: of two requests waiting for an upload, the older
// gives up as the newer comes, and the holder hands the upload straight to
// the newer one, which nothing then interrupts.
func TestLocksNewestWins(t *testing.T) {
	w := newWorld(t)
	u, _ := w.s.Create("ed", path(t, "/finance/turns"), 10, nil)
	interrupts := make(chan string, 10)
	_, release, err := w.s.Open(t.Context(), u.ID, "ed", func() { interrupts <- "first" })
	if err != nil {
		t.Fatal(err)
	}
	older := make(chan error, 1)
	go func() {
		_, r, err := w.s.Open(t.Context(), u.ID, "ed", func() { interrupts <- "older" })
		if err == nil {
			r()
		}
		older <- err
	}()
	if got := <-interrupts; got != "first" {
		t.Fatalf("the older waiter interrupted %q", got)
	}
	newer := make(chan func(), 1)
	go func() {
		_, r, err := w.s.Open(t.Context(), u.ID, "ed", func() { interrupts <- "newer" })
		if err != nil {
			t.Error(err)
			r = func() {}
		}
		newer <- r
	}()
	if err := <-older; !errors.Is(err, ErrBusy) {
		t.Fatalf("the older waiter got %v, want ErrBusy", err)
	}
	if got := <-interrupts; got != "first" {
		t.Fatalf("the newer waiter interrupted %q", got)
	}
	release()
	r := <-newer
	if _, _, err := w.s.Open(t.Context(), u.ID, "mallory", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user's Open = %v", err)
	}
	select {
	case got := <-interrupts:
		t.Fatalf("%q was interrupted after the hand-off", got)
	default:
	}
	r()
	if _, r, err := w.s.Open(t.Context(), u.ID, "ed", nil); err != nil {
		t.Fatalf("Open after every request let go = %v", err)
	} else {
		r()
	}
}

// TestSweepFinishesCompleteUploads: an expired upload that holds every
// byte (its commit failed, and the client never came back) is committed
// by the sweep rather than discarded, which would lose bytes the client
// was told were stored; one that still cannot commit is discarded, and
// the log says which happened.
func TestSweepFinishesCompleteUploads(t *testing.T) {
	w := newWorld(t)
	var logs bytes.Buffer
	w.s.o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	data := random(3000)
	done, _ := w.s.Create("ed", path(t, "/finance/done"), int64(len(data)), nil)
	w.send(t, done.ID, data)
	blocked, _ := w.s.Create("ed", path(t, "/finance/blocked"), int64(len(data)), nil)
	w.send(t, blocked.ID, data)
	if _, err := w.docs.Mkdir(path(t, "/finance/blocked"), false, "ed"); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(2 * time.Hour)
	if n, err := w.s.Sweep(t.Context()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 discarded", n, err)
	}
	node, err := w.db.Lookup(path(t, "/finance/done"))
	if err != nil || node.SHA256 != sha256.Sum256(data) {
		t.Fatalf("the complete upload after the sweep: %+v %v", node, err)
	}
	for _, id := range []string{done.ID, blocked.ID} {
		if _, err := w.s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("upload %s after the sweep: %v", id, err)
		}
	}
	for _, want := range []string{"upload=" + done.ID, "upload=" + blocked.ID} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not name %s:\n%s", want, logs.String())
		}
	}
}

// TestStagesOutOfOrder: staging blobs whose records no longer follow on
// from each other (reordered in meta.db) fail as damage; each still
// authenticates at its own range, so only their order can tell.
func TestStagesOutOfOrder(t *testing.T) {
	w := newWorld(t)
	data := random(3000)
	u, _ := w.s.Create("ed", path(t, "/finance/reordered"), int64(len(data)), nil)
	w.send(t, u.ID, data[:1000])
	got := w.send(t, u.ID, data[1000:2000])
	if len(got.Stages) != 2 {
		t.Fatalf("%d staging blobs, want 2", len(got.Stages))
	}
	if _, err := w.db.UpdateUpload(u.ID, nil, func(rec *meta.Upload) error {
		rec.Stages[0], rec.Stages[1] = rec.Stages[1], rec.Stages[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h, release := w.open(t, u.ID)
	defer release()
	if _, err := w.s.Write(t.Context(), h, h.Offset, bytes.NewReader(data[2000:])); !errors.Is(err, crypt.ErrIntegrity) {
		t.Fatalf("Write over reordered staging blobs = %v, want ErrIntegrity", err)
	}
}

// failingUpdates fails every update of an upload record once armed.
type failingUpdates struct {
	Records
	armed atomic.Bool
}

var errMetaDown = errors.New("meta.db unwritable")

func (f *failingUpdates) UpdateUpload(id string, garbage []string, fn func(*meta.Upload) error) (meta.Upload, error) {
	if f.armed.Load() {
		return meta.Upload{}, errMetaDown
	}
	return f.Records.UpdateUpload(id, garbage, fn)
}

// TestUnrecordedStageIsDeleted: a staging blob stored but not recorded,
// and not queued for deletion either (meta.db refuses both), is deleted
// at once rather than left in the bucket for ever.
func TestUnrecordedStageIsDeleted(t *testing.T) {
	w := newWorld(t)
	f := &failingUpdates{Records: w.rec}
	w.s.rec = f
	u, _ := w.s.Create("ed", path(t, "/finance/unrecorded"), 3000, nil)
	h, release := w.open(t, u.ID)
	defer release()
	f.armed.Store(true)
	if _, err := w.s.Write(t.Context(), h, 0, bytes.NewReader(random(1000))); !errors.Is(err, errMetaDown) {
		t.Fatalf("Write = %v, want the update's error", err)
	}
	n := 0
	w.docs.Objects().List(t.Context(), "v1/stage/", func(objstore.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d staging blobs left in the bucket, recorded nowhere", n)
	}
}

// multipartLedger records the multipart uploads started and aborted.
type multipartLedger struct {
	objstore.MultipartStore
	mu      sync.Mutex
	open    map[string]bool
	aborted int
}

func (m *multipartLedger) CreateMultipart(ctx context.Context, key string) (string, error) {
	id, err := m.MultipartStore.CreateMultipart(ctx, key)
	if err == nil {
		m.mu.Lock()
		m.open[id] = true
		m.mu.Unlock()
	}
	return id, err
}

func (m *multipartLedger) AbortMultipart(ctx context.Context, key, id string) error {
	m.mu.Lock()
	delete(m.open, id)
	m.aborted++
	m.mu.Unlock()
	return m.MultipartStore.AbortMultipart(ctx, key, id)
}

// TestUnrecordedMultipartIsAborted: a multipart upload started for an
// upload whose record cannot take its id (meta.db refuses the write) is
// aborted at once, since nothing else would ever abort it.
func TestUnrecordedMultipartIsAborted(t *testing.T) {
	ledger := &multipartLedger{open: map[string]bool{}}
	w := newWorldWith(t, func(o objstore.MultipartStore) objstore.MultipartStore {
		ledger.MultipartStore = o
		return ledger
	})
	f := &failingUpdates{Records: w.rec}
	w.s.rec = f
	P := int(crypt.DefaultPartSize)
	u, _ := w.s.Create("ed", path(t, "/finance/multipart"), int64(2*P), nil)
	h, release := w.open(t, u.ID)
	defer release()
	f.armed.Store(true)
	if _, err := w.s.Write(t.Context(), h, 0, bytes.NewReader(random(P+10))); !errors.Is(err, errMetaDown) {
		t.Fatalf("Write = %v, want the update's error", err)
	}
	if len(ledger.open) != 0 || ledger.aborted != 1 {
		t.Fatalf("%d multipart uploads left open, %d aborted", len(ledger.open), ledger.aborted)
	}
}

// unknownOutcome makes the next update of an upload record end as a
// commit cut by a lost connection does (kv.ErrOutcomeUnknown), after
// making it (commit) or not.
type unknownOutcome struct {
	Records
	armed  atomic.Bool
	commit bool
}

func (u *unknownOutcome) UpdateUpload(id string, garbage []string, fn func(*meta.Upload) error) (meta.Upload, error) {
	if !u.armed.CompareAndSwap(true, false) {
		return u.Records.UpdateUpload(id, garbage, fn)
	}
	if u.commit {
		if _, err := u.Records.UpdateUpload(id, garbage, fn); err != nil {
			return meta.Upload{}, err
		}
	}
	return meta.Upload{}, fmt.Errorf("pgkv: connection lost during COMMIT: %w", kv.ErrOutcomeUnknown)
}

// TestStageOfUnknownOutcome: a staging blob whose recording ended with an
// unknown outcome is kept when the record holds it (the client may be
// told that offset), and the upload goes on from there; when the record
// does not, it is queued for deletion as an unrecorded one is.
func TestStageOfUnknownOutcome(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprint("committed=", committed), func(t *testing.T) {
			w := newWorld(t)
			f := &unknownOutcome{Records: w.rec, commit: committed}
			w.s.rec = f
			data := random(3000)
			u, _ := w.s.Create("ed", path(t, "/finance/unknown"), int64(len(data)), nil)
			h, release := w.open(t, u.ID)
			f.armed.Store(true)
			if _, err := w.s.Write(t.Context(), h, 0, bytes.NewReader(data[:1000])); !errors.Is(err, kv.ErrOutcomeUnknown) {
				t.Fatalf("Write = %v, want the unknown outcome", err)
			}
			release()
			// The collector runs meanwhile (every node's janitor does).
			if _, err := w.docs.Collect(t.Context()); err != nil {
				t.Fatal(err)
			}
			rec, err := w.db.Upload(u.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			if committed {
				want = 1000
			}
			if rec.Offset != want {
				t.Fatalf("offset %d after the write, want %d", rec.Offset, want)
			}
			w.send(t, u.ID, data[rec.Offset:])
			v := w.finish(t, u.ID)
			if got := w.read(t, v); !bytes.Equal(got, data) {
				t.Fatalf("the document differs from what was sent (%d bytes, %d read)", len(data), len(got))
			}
			if _, err := w.docs.Collect(t.Context()); err != nil {
				t.Fatal(err)
			}
			n := 0
			w.docs.Objects().List(t.Context(), "v1/stage/", func(objstore.Info) error { n++; return nil })
			if n != 0 {
				t.Errorf("%d staging blobs left after the upload finished", n)
			}
		})
	}
}

// TestMultipartOfUnknownOutcome: a multipart upload whose id's recording
// ended with an unknown outcome is the upload's when the record holds it
// (not aborted: the upload goes on with it), and is aborted when it does
// not.
func TestMultipartOfUnknownOutcome(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprint("committed=", committed), func(t *testing.T) {
			ledger := &multipartLedger{open: map[string]bool{}}
			w := newWorldWith(t, func(o objstore.MultipartStore) objstore.MultipartStore {
				ledger.MultipartStore = o
				return ledger
			})
			f := &unknownOutcome{Records: w.rec, commit: committed}
			w.s.rec = f
			P := int(crypt.DefaultPartSize)
			data := random(2*P + 10)
			u, _ := w.s.Create("ed", path(t, "/finance/multipart"), int64(len(data)), nil)
			h, release := w.open(t, u.ID)
			f.armed.Store(true) // the first update records the multipart id
			_, err := w.s.Write(t.Context(), h, 0, bytes.NewReader(data[:P+10]))
			release()
			switch {
			case committed && err != nil:
				t.Fatalf("Write = %v; the id was recorded", err)
			case !committed && !errors.Is(err, kv.ErrUnavailable):
				t.Fatalf("Write = %v, want kv.ErrUnavailable (not recorded)", err)
			}
			if !committed && (len(ledger.open) != 0 || ledger.aborted != 1) {
				t.Fatalf("not recorded: %d multipart uploads left open, %d aborted", len(ledger.open), ledger.aborted)
			}
			rec, err := w.db.Upload(u.ID)
			if err != nil {
				t.Fatal(err)
			}
			w.send(t, u.ID, data[rec.Offset:])
			v := w.finish(t, u.ID)
			if got := w.read(t, v); !bytes.Equal(got, data) {
				t.Fatalf("the document differs from what was sent")
			}
			if committed && ledger.aborted != 0 {
				t.Errorf("%d multipart uploads aborted; the recorded one was", ledger.aborted)
			}
		})
	}
}
