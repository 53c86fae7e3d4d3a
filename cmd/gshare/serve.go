package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/acl/rolemap"
	"gshare/api"
	"gshare/api/auth"
	"gshare/api/directory"
	"gshare/config"
	"gshare/storage/backup"
	"gshare/storage/crypt"
	"gshare/storage/docstore"
	"gshare/storage/keys"
	"gshare/storage/lease"
	"gshare/storage/meta"
	"gshare/storage/metaship"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
	"gshare/storage/objstore/metered"
	"gshare/storage/objstore/s3"
	"gshare/storage/uploads"
)

// app is a running server's parts, wired together.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	db      *meta.DB
	objs    objstore.MultipartStore // metered
	rawObjs objstore.MultipartStore
	ring    *keys.Ring
	master  atomic.Pointer[crypt.Key]
	metrics *prometheus.Registry
	// bg lives as long as the app: background jobs (key rotation) end with it.
	bg     context.Context
	stopBg context.CancelFunc
	docs   *docstore.Store
	acl    *acl.Enforcer
	auth   *auth.Manager
	api    *api.Server

	uploads *uploads.Store
	audit   *audit.Log
	ldap    *directory.Accounts // nil without ldap.url
	keys    *keys.Admin
	// leader elects the one node, among those sharing the metadata
	// store, that runs the background jobs (leaderJobs).
	leader *lease.Elector
	// ship ships meta.db's changes to the bucket (nil when off: see
	// shipping).
	ship        *metaship.Shipper
	shipStarted bool // its first round ran: open got past the audit check
	// initialHash is the admin's password hash last seen to match
	// DATA/initial-admin-password (dropStalePassword); janitor only.
	initialHash string
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, os.Environ(), stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	a, err := open(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	defer a.close()
	return a.serve(ctx, stdout)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// open creates or opens the data directory and wires every part.
func open(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) (_ *app, err error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// A database (meta_url) is opened before the master key is looked
	// for: a new key is made only for a store without data, and on
	// PostgreSQL only the store can say. DATA/meta.db is opened after, so
	// that a refused start does not create it.
	var db *meta.DB
	if cfg.MetaURL != "" {
		if db, err = openMeta(ctx, cfg, log, nil); err != nil {
			return nil, err
		}
	}
	master, created, err := keys.LoadMaster(ctx, keys.Source{File: cfg.MasterKeyFile, Command: cfg.MasterKeyCommand, DataDir: cfg.Data, Meta: db})
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, err
	}
	if created {
		log.Warn("created a new master key; keep a copy somewhere safe (without it no document can be read)",
			"file", filepath.Join(cfg.Data, "master.key"))
	}
	wrap, capture := captureWrap(cfg)
	if db == nil {
		if db, err = openMeta(ctx, cfg, log, wrap); err != nil {
			return nil, err
		}
	}
	logShipping(cfg, log)
	if cfg.MetaURL != "" {
		log.Warn("hot backups (GET /api/v1/backup, gshare backup, backup_interval) are for a bbolt meta.db only: " +
			"back up the PostgreSQL database with pg_dump or pg_basebackup, and keep the master key (or its shares) apart; see docs/operations.md")
	}
	if db.Path() == "" {
		// A shared store: this node reclaims only its own interrupted
		// writes at start (meta.DB.SetWriter), named the same across its
		// restarts.
		db.SetWriter(writerName(cfg.Data))
	}
	a := &app{cfg: cfg, log: log, db: db, metrics: prometheus.NewRegistry()}
	a.bg, a.stopBg = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	src := keys.Source{File: cfg.MasterKeyFile, Command: cfg.MasterKeyCommand, DataDir: cfg.Data}
	if file := keys.MasterFile(src); file != "" {
		var recovered bool
		if master, recovered, err = keys.RecoverMaster(db, file, master); err != nil {
			return nil, err
		} else if recovered {
			log.Warn("finished a master key rotation interrupted by a crash", "file", file)
		}
	}
	a.master.Store(&master)
	ring, err := keys.NewRing(db, master)
	if err != nil {
		if errors.Is(err, keys.ErrWrongMaster) {
			return nil, fmt.Errorf("%w: check GSHARE_MASTER_KEY_FILE / GSHARE_MASTER_KEY_COMMAND; nothing was changed", err)
		}
		return nil, err
	}
	a.ring = ring
	if a.rawObjs, err = openObjects(ctx, cfg); err != nil {
		return nil, err
	}
	a.objs = metered.New(a.rawObjs, a.metrics)
	var anchors audit.Anchor = a.objs
	if capture != nil {
		a.newShipper(*capture)
		// Audit anchors wait for the metadata they describe to be shipped.
		anchors = a.ship.Defer(a.objs)
	}
	a.docs = docstore.New(db, a.objs, ring, log)
	a.docs.MaxSize = int64(cfg.MaxUploadSize)
	if n, err := a.docs.Recover(); err != nil {
		return nil, fmt.Errorf("recover interrupted writes: %w", err)
	} else if n > 0 {
		log.Info("reclaimed writes interrupted by the last shutdown", "count", n)
	}
	if a.acl, err = acl.New(db); err != nil {
		return nil, err
	}
	a.docs.Rules = a.acl
	if a.audit, err = openAudit(ctx, cfg, db, master, anchors, log); err != nil {
		return nil, err
	}
	if a.ship != nil {
		// The first round (a new generation) before serving, which also
		// anchors the checkpoints the audit log wrote while opening.
		a.shipNow(ctx)
	}
	a.auth = auth.NewManager(db, auth.DefaultParams, cfg.SessionIdle, cfg.SessionMax)
	mfaKey, err := auth.MFAKey(db, master)
	if err != nil {
		return nil, err
	}
	a.auth.MFAKey = &mfaKey
	if err := a.bootstrap(stdout); err != nil {
		return nil, err
	}
	a.dropStalePassword()
	if err := a.openLDAP(); err != nil {
		return nil, err
	}
	var proxies []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			proxies = append(proxies, pfx)
		} else if addr, err := netip.ParseAddr(p); err == nil {
			proxies = append(proxies, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	ready := map[string]api.Checker{"meta": pingWithin(db.Ping)}
	if p, ok := a.objs.(objstore.Pinger); ok {
		ready["objects"] = p.Ping
	}
	a.uploads = uploads.New(db, a.docs, uploads.Options{Expiry: cfg.UploadExpiry, Log: log})
	if n, err := a.uploads.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recover finished uploads: %w", err)
	} else if n > 0 {
		log.Info("finished uploads whose last byte arrived before the last shutdown", "count", n)
	}
	name, purpose, context := a.audit.SigningKeyValue()
	keyAdmin := &keys.Admin{Ring: ring, MasterFile: keys.MasterFile(src), Background: a.bg,
		AbortMultipart: a.objs.AbortMultipart, Collect: a.docs.Collect, Log: log,
		Master:        func() crypt.Key { return *a.master.Load() },
		SetMaster:     func(k crypt.Key) { a.master.Store(&k) },
		WrappedValues: []keys.WrappedValue{{Name: name, Purpose: purpose, Context: context}, mfaWrapped()},
		Done: func(action, dept string) {
			a.audit.Record(audit.Entry{Time: time.Now().UTC(), Action: action, Dept: dept, Result: audit.Allowed})
		}}
	ops := &api.Ops{Keys: keyAdmin,
		Backup:   func(w io.Writer) (int64, error) { return backup.Write(w, db, *a.master.Load()) },
		MetaShip: a.shipStatus}
	oidcRoles, err := rolemap.Parse(cfg.OIDC.RoleMap) // checked by config.Load
	if err != nil {
		return nil, err
	}
	a.api, err = api.New(api.Deps{Docs: a.docs, Accounts: db, Shares: db, Auth: a.auth, ACL: a.acl, Audit: a.audit, Log: log, Ready: ready,
		Uploads: a.uploads, Policy: a.acl, AuditLog: a.audit, Ops: ops, Metrics: a.metrics, DavLocks: db, LoginFlows: db, SignIns: db},
		api.Options{MaxUploadSize: int64(cfg.MaxUploadSize), MaxUploadsPerUser: cfg.MaxUploadsPerUser,
			SecureCookies: cfg.TLSCert != "", TrustedProxies: proxies, PublicURL: cfg.PublicURL, CORSOrigins: cfg.CORSOrigins,
			TrashRetention: cfg.TrashRetention, MFARequiredRoles: cfg.MFARequiredRoles,
			AccountLimit: auth.Limit{Free: cfg.LoginFailuresPerAccount, Forget: auth.DefaultAccountLimit.Forget},
			AddressLimit: auth.Limit{Free: cfg.LoginFailuresPerAddress, Forget: auth.DefaultAddressLimit.Forget},
			OIDC: api.OIDCOptions{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID, ClientSecret: cfg.OIDC.ClientSecret,
				Scopes: cfg.OIDC.Scopes, RoleClaim: cfg.OIDC.RoleClaim, RoleMap: oidcRoles, Name: cfg.OIDC.Name}})
	if err != nil {
		return nil, err
	}
	a.keys = keyAdmin
	return a, nil
}

// openLDAP makes directory accounts sign in at ldap.url, beside the local
// ones. A directory that cannot be reached does not stop the start: its
// accounts cannot sign in until it answers, everyone else can.
func (a *app) openLDAP() error {
	c := a.cfg.LDAP
	if c.URL == "" {
		return nil
	}
	m, err := rolemap.Parse(c.RoleMap)
	if err != nil {
		return fmt.Errorf("configuration: ldap.role_map: %w", err)
	}
	dir, err := directory.New(directory.Config{URL: c.URL, StartTLS: c.StartTLS, CAFile: c.CAFile, BindDN: c.BindDN, BindPassword: c.BindPassword,
		UserBase: c.UserBase, UserFilter: c.UserFilter, GroupBase: c.GroupBase, NameAttr: c.NameAttr, MailAttr: c.MailAttr, RoleMap: m})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	a.ldap = &directory.Accounts{Dir: dir, DB: a.db, Policy: a.acl, Audit: a.audit, Log: a.log.With("component", "ldap")}
	a.auth.Directory = a.ldap
	if err := a.ldap.Check(); err != nil {
		a.log.Warn("the directory cannot be reached; its accounts cannot sign in until it answers (local accounts can)", "url", c.URL, "err", err)
	} else {
		a.log.Info("directory accounts sign in at LDAP", "url", c.URL, "sync_interval", c.SyncInterval.String())
	}
	return nil
}

func openObjects(ctx context.Context, cfg *config.Config) (objstore.MultipartStore, error) {
	if cfg.S3.Endpoint == "" {
		s, err := dir.New(filepath.Join(cfg.Data, "objects"))
		if err != nil {
			return nil, fmt.Errorf("object directory: %w", err)
		}
		return s, nil
	}
	s, err := s3.Open(ctx, s3.Options{Endpoint: cfg.S3.Endpoint, AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey,
		Region: cfg.S3.Region, Bucket: cfg.S3.Bucket, TLS: cfg.S3.TLS, SignedPayloads: cfg.S3.SignedPayloads, Timeout: cfg.S3.Timeout})
	if err != nil {
		return nil, fmt.Errorf("S3 at %s, bucket %s: %w", cfg.S3.Endpoint, cfg.S3.Bucket, err)
	}
	return s, nil
}

// openAudit opens the audit log and refuses to go on if meta.db's log is
// behind or different from the checkpoint anchored in the object store,
// unless the operator says so (and that is audited).
func openAudit(ctx context.Context, cfg *config.Config, db *meta.DB, master crypt.Key, objs audit.Anchor, log *slog.Logger) (*audit.Log, error) {
	l, err := audit.Open(db, master, objs, audit.Options{Log: log})
	if err != nil {
		return nil, err
	}
	l.Start()
	if err := l.CheckAnchor(ctx); err != nil {
		if !errors.Is(err, audit.ErrRolledBack) || !cfg.AllowAuditRollback {
			l.Close(ctx)
			if errors.Is(err, audit.ErrRolledBack) {
				return nil, fmt.Errorf("refusing to start: %w\n(if meta.db was restored on purpose, start once with --allow-audit-rollback; the override is recorded)", err)
			}
			return nil, err
		}
		log.Error("starting although the audit log was rolled back, as the operator asked; a new epoch of the log begins", "err", err)
		if err := l.AcceptRollback(ctx, err); err != nil {
			l.Close(ctx)
			return nil, fmt.Errorf("audit log override: %w", err)
		}
	}
	return l, nil
}

func (a *app) close() {
	if a.stopBg != nil {
		a.stopBg()
	}
	if a.audit != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := a.audit.Close(ctx); err != nil {
			a.log.Error("audit log not flushed at shutdown", "err", err)
		}
		cancel()
	}
	a.finalShip() // after the audit log's last checkpoint, so that it is anchored
	if a.db != nil {
		a.db.Close()
	}
}

// serve listens until ctx is done, then shuts down gracefully: requests in
// flight (uploads among them) get ShutdownTimeout to finish.
func (a *app) serve(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 15 * time.Second, // slow-header (slowloris) clients are cut off
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	scheme := "http"
	if a.cfg.TLSCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	a.printWelcome(stdout, url)
	a.log.Info("listening", "addr", ln.Addr().String(), "data", a.cfg.Data, "objects", a.objectsDesc())

	var wg sync.WaitGroup
	jctx, stopJanitor := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.localJanitor(jctx)
	}()
	if a.ship != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.runShipping(jctx)
		}()
	}
	a.leader = &lease.Elector{Store: a.db, Name: "jobs", Node: a.nodeID(), Log: a.log}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.leader.Run(jctx, a.leaderJobs)
	}()
	if a.cfg.DebugAddr != "" {
		dbg, err := a.debugServer()
		if err != nil {
			stopJanitor()
			wg.Wait()
			return err
		}
		defer dbg.Close()
	}
	errc := make(chan error, 1)
	if a.cfg.TLSCert != "" {
		certs, err := newCertReloader(a.cfg.TLSCert, a.cfg.TLSKey, a.log)
		if err != nil {
			stopJanitor()
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			certs.watch(jctx)
		}()
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		if d := a.cfg.ShutdownDrain; d > 0 {
			// Behind a balancer: fail /readyz and keep serving until the
			// balancer has moved new requests to other nodes.
			a.log.Info("draining: /readyz answers 503 while requests are still served", "drain", d.String())
			a.api.Drain()
			time.Sleep(d)
		}
		a.log.Info("shutting down; waiting for requests in flight", "timeout", a.cfg.ShutdownTimeout.String())
		// Uploads store what has arrived and answer with their offset;
		// other requests (downloads) get the timeout to finish.
		a.api.InterruptUploads()
		a.api.EndLongPolls()
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			a.log.Warn("requests still running at the shutdown timeout were cut off", "err", err)
			srv.Close()
			// Closed connections make handlers return; let them finish
			// recording what they stored before the database closes.
			wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			a.api.Wait(wctx)
			cancel()
		}
		err = nil
	}
	stopJanitor()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	a.log.Info("stopped")
	return err
}

// debugServer serves the Go profiles on their own listener, so they are
// never reachable through the public address.
func (a *app) debugServer() (*http.Server, error) {
	ln, err := net.Listen("tcp", a.cfg.DebugAddr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 15 * time.Second}
	a.log.Info("serving Go profiles", "addr", ln.Addr().String())
	go srv.Serve(ln)
	return srv, nil
}

func (a *app) objectsDesc() string {
	if a.cfg.S3.Endpoint != "" {
		return "s3://" + a.cfg.S3.Endpoint + "/" + a.cfg.S3.Bucket
	}
	return filepath.Join(a.cfg.Data, "objects")
}

func (a *app) printWelcome(w io.Writer, url string) {
	fmt.Fprintf(w, "G-Share is running at %s\n", url)
	fmt.Fprintf(w, "  data:    %s (objects: %s)\n", a.cfg.Data, a.objectsDesc())
	// The file is named only while it exists: dropStalePassword removed
	// it before this if it no longer holds the password.
	pwFile := initialPasswordFile(a.cfg.Data)
	how := "the password you set"
	if _, err := os.Stat(pwFile); err == nil {
		how = "the password in " + pwFile
	}
	fmt.Fprintf(w, "  sign in: open %s/ in a browser, user \"admin\" with %s\n", url, how)
	fmt.Fprintf(w, "  try:     curl -s -X POST %s/api/v1/login -d '{\"username\":\"admin\",\"password\":\"...\"}'\n", url)
}

// nodeID names this node in the election of the one running background
// jobs. A bbolt meta.db is held by one process at a time (its file lock),
// so every process that opens it is the same node: a restart takes the
// lease back at once instead of waiting for it to expire. On a shared
// store each process is a node of its own.
func (a *app) nodeID() string {
	if p := a.db.Path(); p != "" {
		return "meta.db " + p
	}
	host, _ := os.Hostname()
	var r [6]byte
	rand.Read(r[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), r)
}

// writerName names this node's writes on a shared metadata store: its
// host and data directory, which stay the same across its restarts and
// differ between nodes (two nodes on one host have two data directories).
func writerName(data string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	return host + ":" + data
}

// leaderJobs are the background jobs run by one node of those sharing the
// metadata store (the one holding the "jobs" lease), until ctx ends: it
// ends when the node loses the lease, and they start again on the node
// that takes it.
func (a *app) leaderJobs(ctx context.Context) {
	var wg sync.WaitGroup
	run := func(job func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job(ctx)
		}()
	}
	run(a.janitor)
	if a.ldap != nil {
		run(func(ctx context.Context) { a.ldap.Run(ctx, a.cfg.LDAP.SyncInterval) })
	}
	if a.cfg.BackupInterval > 0 {
		run(a.scheduledBackups)
	}
	if a.ship != nil {
		run(a.pruneShipped)
	}
	// Not waited for: a rotation runs until done or until the app's
	// background context ends (a.bg, at shutdown), as one started through
	// the API does, and a shutdown must not wait for it.
	go a.resumeRotations(ctx)
	wg.Wait()
}

// resumeRotations finishes department key rotations interrupted by a
// shutdown (or by the loss of the lease of the node that ran them). A
// rotation re-wraps each data key in its own transaction, so one taken up
// by another node while the first still runs does the remaining work
// twice at worst.
func (a *app) resumeRotations(ctx context.Context) {
	pending, err := a.ring.PendingRotations()
	if err != nil {
		a.log.Error("cannot list interrupted key rotations; they resume at the next start", "err", err)
		return
	}
	for _, d := range pending {
		if ctx.Err() != nil {
			return
		}
		a.log.Info("resuming a department key rotation interrupted by the last shutdown", "dept", d)
		a.keys.RunRotation(d)
	}
}

// localJanitor is the housekeeping of this node's own files, on every
// node: the initial admin password file once the password was changed,
// and temporary object files left by a crash (directory store).
func (a *app) localJanitor(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		a.dropStalePassword()
		if d, ok := a.rawObjs.(*dir.Store); ok {
			if n, err := d.Clean(24*time.Hour, a.cfg.UploadExpiry+24*time.Hour); err != nil {
				a.log.Warn("cleaning temporary object files failed", "err", err)
			} else if n > 0 {
				a.log.Info("removed temporary object files left by a crash", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// janitor runs periodic housekeeping of the shared state, on the elected
// node only (leaderJobs): deleting unreferenced objects, thinning anchored
// audit checkpoints (hourly), expired sessions, uploads and trash entries,
// audit entries past retention and old change-feed entries.
func (a *app) janitor(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var anchorsPruned time.Time
	for {
		if n, err := a.docs.Collect(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("garbage collection stopped early; will retry", "deleted", n, "err", err)
		} else if n > 0 {
			a.log.Info("deleted unreferenced objects", "count", n)
		}
		if err := a.auth.Sweep(); err != nil {
			a.log.Warn("session sweep failed", "err", err)
		}
		if n, err := a.uploads.Sweep(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("expired upload sweep failed; will retry", "discarded", n, "err", err)
		} else if n > 0 {
			a.log.Info("discarded expired uploads", "count", n)
		}
		if a.cfg.AuditRetention > 0 {
			if n, err := a.audit.Prune(ctx, time.Now().Add(-a.cfg.AuditRetention)); err != nil && ctx.Err() == nil {
				a.log.Warn("audit pruning failed", "err", err)
			} else if n > 0 {
				a.log.Info("pruned audit entries past retention", "count", n)
			}
		}
		if es, err := a.docs.PurgeTrash(time.Now().Add(-a.cfg.TrashRetention)); err != nil {
			a.log.Warn("purging the trash failed; will retry", "err", err)
		} else {
			for _, e := range es {
				a.audit.Record(audit.Entry{Time: time.Now().UTC(), User: "janitor", Dept: e.Dept, Action: "trash.expire",
					Path: e.Path, Object: e.Node.String(), Result: audit.Allowed, Bytes: e.Size, Reason: "trash_retention"})
			}
			if len(es) > 0 {
				a.log.Info("purged trash entries past retention", "count", len(es))
			}
		}
		if time.Since(anchorsPruned) >= time.Hour {
			if n, err := a.audit.PruneAnchors(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("pruning anchored audit checkpoints failed; will retry in an hour", "deleted", n, "err", err)
			} else if n > 0 {
				a.log.Info("pruned anchored audit checkpoints", "count", n)
			}
			anchorsPruned = time.Now()
		}
		if n, err := a.db.PruneChanges(time.Now().Add(-a.cfg.ChangeRetention)); err != nil {
			a.log.Warn("change feed pruning failed", "err", err)
		} else if n > 0 {
			a.log.Info("pruned old change-feed entries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// mfaWrapped is the wrapped key of second-factor secrets, which a master
// key rotation re-wraps with the others.
func mfaWrapped() keys.WrappedValue {
	name, purpose, context := auth.MFAKeyValue()
	return keys.WrappedValue{Name: name, Purpose: purpose, Context: context}
}
