package meta

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
)

// Errors returned by DB methods, wrapped with the operation and subject.
var (
	// ErrNotFound means the department, user, node, version, session or
	// upload does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means the thing to create already exists.
	ErrExists = errors.New("already exists")
	// ErrLimit means a file request has received all it may.
	ErrLimit = errors.New("limit reached")
	// ErrPrecondition means an If-Match or If-None-Match condition failed,
	// or a move's destination is not what its caller authorised
	// (MoveOptions.Expect).
	ErrPrecondition = errors.New("precondition failed")
	// ErrNotDir means a path element that must be a folder is a file.
	ErrNotDir = errors.New("not a folder")
	// ErrIsDir means a file operation was applied to a folder.
	ErrIsDir = errors.New("is a folder")
	// ErrNotEmpty means a folder that must be empty is not.
	ErrNotEmpty = errors.New("folder not empty")
	// ErrInvalid means the operation makes no sense on its arguments, such
	// as moving a folder into itself or deleting a department root.
	ErrInvalid = errors.New("invalid operation")
	// ErrRulePath means a move, copy or restore would carry access rules
	// to a path they cannot name (RuleMapper.Rebase refused it: a name
	// holding '*'). It wraps ErrInvalid.
	ErrRulePath = fmt.Errorf("access rules cannot name the destination: %w", ErrInvalid)
	// ErrMoved means the folder or file a write was reserved against has
	// been moved or deleted since (or another file took its path): the
	// commit would make its path again without the access rules that went
	// with the node, so the write must start again.
	ErrMoved = errors.New("the destination folder or file was moved or deleted during the write")
	// ErrLocked means another process holds meta.db.
	ErrLocked = errors.New("meta.db is in use by another process (is gshare serve running?)")
	// ErrSchema means the file was written by a newer G-Share.
	ErrSchema = errors.New("meta.db has a newer schema than this binary knows")
)

var (
	bucketMeta     = []byte("meta")
	bucketDepts    = []byte("depts")
	bucketKEKs     = []byte("keks")
	bucketUsers    = []byte("users")
	bucketSessions = []byte("sessions")
	bucketNodes    = []byte("nodes")
	bucketNodeIdx  = []byte("nodeidx")
	bucketVersions = []byte("versions")
	bucketRefs     = []byte("refs")
	bucketPending  = []byte("pending")
	bucketGC       = []byte("gc")
	bucketUploads  = []byte("uploads")
	bucketChanges  = []byte("changes")
	bucketRules    = []byte("casbin_rule")
	bucketShares   = []byte("shares")
	bucketProps    = []byte("props")
)

// migrations[i] brings the schema from version i to i+1.
var migrations = []func(tx kv.Tx) error{
	func(tx kv.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketDepts, bucketKEKs, bucketUsers, bucketSessions,
			bucketNodes, bucketNodeIdx, bucketVersions, bucketRefs, bucketPending, bucketGC,
			bucketUploads, bucketChanges, bucketRules, bucketShares,
			bucketAudit, bucketAuditHash, bucketAuditTime, bucketAuditState, bucketProps} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		id := make([]byte, 16)
		rand.Read(id)
		return tx.Bucket(bucketMeta).Put([]byte("instance"), []byte(hex.EncodeToString(id)))
	},
	// 2: the trash.
	func(tx kv.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketTrash)
		return err
	},
	// 3: the name index (nameorder.go), made from the nodes there are.
	func(tx kv.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketNameOrder); err != nil {
			return err
		}
		return fillNameOrder(tx)
	},
	// 4: each department's storage counters (usage.go), counted from the
	// nodes and versions there are.
	func(tx kv.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketUsage); err != nil {
			return err
		}
		return fillUsage(tx)
	},
	// 5: policy lines keyed by their hash (rekeyRules).
	rekeyRules,
	// 6: state nodes share to coordinate: WebDAV locks, Login Flow v2
	// and OpenID Connect sign-ins under way (davlock.go, pending.go).
	func(tx kv.Tx) error {
		for _, b := range [][]byte{bucketDavLocks, bucketLoginFlows, bucketSignIns} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

// Options configures Open and OpenStore. The zero value is ready to use.
type Options struct {
	// Now returns the current time; defaults to time.Now. Tests set it.
	Now func() time.Time
	// LockTimeout is how long Open waits for another process to release
	// the file; defaults to one second. (Open only.)
	LockTimeout time.Duration
	// NoSync skips fsync after each commit. Only for tests and benchmarks:
	// a crash may lose or corrupt the database. (Open only.)
	NoSync bool
	// ChangePoll is how often WaitChanges re-reads the newest sequence of
	// the department it waits on (one read), to see changes committed by
	// another process sharing the store; negative: never. It defaults to
	// DefaultChangePoll for OpenStore (a store other processes may
	// share) and to never for Open (a bbolt file is one process's).
	ChangePoll time.Duration
	// Notifier, if set, carries change-feed wake-ups between the
	// processes sharing the store, so waiters wake before the next poll.
	Notifier Notifier
	// Wrap, if set, wraps the bbolt engine before the store runs on it
	// (storage/metaship's capture of changes for shipping). (Open only.)
	Wrap func(kv.Store) kv.Store
	// Rules lets moves, copies, deletes and restores carry access rules
	// along with the nodes they name; acl.Paths implements it. Without
	// it rules stay on their paths (for tests of this package alone).
	Rules RuleMapper
}

// DefaultChangePoll is OpenStore's ChangePoll.
const DefaultChangePoll = 250 * time.Millisecond

// Notifier carries change-feed wake-ups between processes sharing one
// store: on PostgreSQL, LISTEN/NOTIFY (pgkv.Store.Notifier on
// ChangesChannel). Without one, waiters poll (Options.ChangePoll); with
// one, they poll too, as a fallback for a wake-up lost while a listener
// was reconnecting.
type Notifier interface {
	// Notify tells the other processes that dept has new changes; it is
	// called after the commit, and must not block for long.
	Notify(dept string)
	// Listen calls wake with each department another process notified,
	// until ctx is done.
	Listen(ctx context.Context, wake func(dept string)) error
}

// DB is an open metadata store. It is safe for concurrent use.
type DB struct {
	store kv.Store
	path  string // the bbolt file, when Open opened one
	now   func() time.Time
	rules RuleMapper
	// writer names this node's writes on a shared store (SetWriter).
	writer string

	mu      sync.Mutex
	waiters map[string]chan struct{} // per department, closed on each change

	poll       time.Duration      // Options.ChangePoll, 0: never
	waiting    map[string]int     // WaitChanges calls per department (with poll)
	pollers    map[string]*poller // running, per department
	closed     bool               // pollers stop
	notifier   Notifier
	stopListen context.CancelFunc
	listening  chan struct{} // closed when the Notifier's Listen returned
}

// Open opens (creating if needed) the metadata file at path, a bbolt
// file (storage/kv/boltkv), and brings its schema up to date.
func Open(path string, opts *Options) (*DB, error) {
	o := options(opts)
	store, err := boltkv.Open(path, &bolt.Options{Timeout: o.LockTimeout, NoSync: o.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("meta: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w", path, err)
	}
	if o.ChangePoll == 0 {
		o.ChangePoll = -1 // one process: every change wakes its waiters
	}
	var engine kv.Store = store
	if o.Wrap != nil {
		engine = o.Wrap(store)
	}
	db, err := open(engine, o)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("meta: open %s: %w", path, err)
	}
	db.path = path
	return db, nil
}

// OpenStore runs the metadata store on an open key-value store (any
// engine: boltkv, pgkv) and brings its schema up to date. The DB owns
// store from then on: Close closes it, and so does a failed OpenStore.
func OpenStore(store kv.Store, opts *Options) (*DB, error) {
	o := options(opts)
	if o.ChangePoll == 0 {
		o.ChangePoll = DefaultChangePoll
	}
	db, err := open(store, o)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("meta: open: %w", err)
	}
	return db, nil
}

func options(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = time.Second
	}
	return o
}

func open(store kv.Store, o Options) (*DB, error) {
	db := &DB{store: store, now: o.Now, rules: o.Rules, waiters: make(map[string]chan struct{}),
		poll: max(o.ChangePoll, 0), notifier: o.Notifier, waiting: map[string]int{}, pollers: map[string]*poller{}}
	if err := db.migrate(); err != nil {
		return nil, err
	}
	if db.notifier != nil {
		ctx, cancel := context.WithCancel(context.Background())
		db.stopListen, db.listening = cancel, make(chan struct{})
		go func() {
			defer close(db.listening)
			for ctx.Err() == nil {
				// Listen returns on a lost connection; polling covers the gap.
				db.notifier.Listen(ctx, db.wake)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	return db, nil
}

func (db *DB) migrate() error {
	// Look first: an update transaction writes the file even when nothing
	// changes, and a start that is refused later must leave it untouched.
	current := -1
	fingerprint := nameOrderFingerprint()
	sameCollation := false
	err := db.store.View(func(tx kv.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			if raw := b.Get([]byte("schema")); len(raw) == 4 {
				current = int(binary.BigEndian.Uint32(raw))
			}
			sameCollation = string(b.Get(nameOrderMetaKey)) == fingerprint
		}
		return nil
	})
	if err != nil {
		return err
	}
	if current == len(migrations) && sameCollation {
		return nil
	}
	return db.store.Update(func(tx kv.Tx) error {
		v := 0
		if b := tx.Bucket(bucketMeta); b != nil {
			if raw := b.Get([]byte("schema")); len(raw) == 4 {
				v = int(binary.BigEndian.Uint32(raw))
			}
		}
		if v > len(migrations) {
			return fmt.Errorf("schema %d, binary knows %d: %w", v, len(migrations), ErrSchema)
		}
		for ; v < len(migrations); v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		// A golang.org/x/text that collates differently: the name index
		// is made again with it.
		if string(tx.Bucket(bucketMeta).Get(nameOrderMetaKey)) != fingerprint {
			if err := fillNameOrder(tx); err != nil {
				return fmt.Errorf("name index: %w", err)
			}
		}
		return tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, uint32(v)))
	})
}

// Close closes the store.
func (db *DB) Close() error {
	db.mu.Lock()
	db.closed = true
	db.mu.Unlock()
	if db.stopListen != nil {
		db.stopListen()
		<-db.listening
	}
	return db.store.Close()
}

// Share opens another DB over the same store, as another process sharing
// it would (tests of several nodes in one process): its own change-feed
// waiters and Notifier, the store's data. Closing it leaves the store
// open; the DB it was made from owns the store.
func (db *DB) Share(opts *Options) (*DB, error) {
	o := options(opts)
	if o.ChangePoll == 0 {
		o.ChangePoll = DefaultChangePoll
	}
	return open(unowned{db.store}, o)
}

// unowned is a store another DB closes.
type unowned struct{ kv.Store }

func (unowned) Close() error { return nil }

// Path returns the file name of the database, or "" when it is not a
// file that Open opened (OpenStore: PostgreSQL, or a store made by the
// caller).
func (db *DB) Path() string { return db.path }

// Ping checks the database is usable, for /readyz.
func (db *DB) Ping() error {
	return db.store.View(func(tx kv.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta: schema missing")
		}
		return nil
	})
}

// InstanceID returns the random id chosen when the database was created.
func (db *DB) InstanceID() (string, error) {
	v, err := db.GetValue("instance")
	return string(v), err
}

// GetValue returns a value from the meta bucket, or ErrNotFound.
func (db *DB) GetValue(key string) ([]byte, error) {
	var out []byte
	err := db.store.View(func(tx kv.Tx) error {
		v := tx.Bucket(bucketMeta).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("meta: value %s: %w", key, ErrNotFound)
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// SetValue stores a value in the meta bucket.
func (db *DB) SetValue(key string, value []byte) error {
	return db.store.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(key), value)
	})
}

// SetValueOnce stores a value unless the key exists, and returns the stored
// value either way: the first writer wins. An existing value is read
// without writing the file.
func (db *DB) SetValueOnce(key string, value []byte) ([]byte, error) {
	if v, err := db.GetValue(key); err == nil {
		return v, nil
	}
	var out []byte
	err := db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
			return nil
		}
		out = value
		return b.Put([]byte(key), value)
	})
	return out, err
}

// ErrNoSnapshot means the store has no hot copy of itself (Snapshot):
// only the bbolt engine does; a PostgreSQL store is backed up with the
// database's own tools. It wraps errors.ErrUnsupported.
var ErrNoSnapshot = fmt.Errorf("meta: this metadata store has no hot backup (only a bbolt meta.db has; back up a database with its own tools): %w", errors.ErrUnsupported)

// Snapshot passes fn a consistent copy of the whole database, of the
// given size, while other transactions go on (a hot backup). Only a bbolt
// store has one; others fail with ErrNoSnapshot before fn is called.
func (db *DB) Snapshot(fn func(size int64, r io.Reader) error) error {
	return db.store.View(func(t kv.Tx) error {
		bt, ok := t.(boltkv.Tx)
		if !ok {
			return ErrNoSnapshot
		}
		tx := bt.Bolt
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, err := tx.WriteTo(pw)
			pw.CloseWithError(err)
		}()
		err := fn(tx.Size(), pr)
		pr.CloseWithError(errors.New("meta: snapshot reader closed"))
		// WriteTo reads the transaction's pages: it must be done before the
		// transaction closes, also when fn stopped reading early (a backup
		// download whose client went away).
		<-done
		return err
	})
}

func put(b kv.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func get(b kv.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
