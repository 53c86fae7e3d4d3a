package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gshare/api/wire"
	"gshare/config"
	"gshare/storage/crypt"
	"gshare/storage/keys"
	"gshare/storage/kv"
	"gshare/storage/meta"
	"gshare/storage/metaship"
)

// shipping says whether meta.db's changes are shipped to the bucket:
// with S3, a bbolt meta.db and a meta_ship_interval. On PostgreSQL the
// database's own point-in-time recovery does this (docs/operations.md);
// with the local object directory there is no other disk to ship to.
func shipping(cfg *config.Config) bool {
	return cfg.MetaShipInterval > 0 && cfg.MetaURL == "" && cfg.S3.Endpoint != ""
}

// captureWrap returns the meta.Options.Wrap that journals meta.db's
// changes for shipping, and where the capturing store will be, or nil
// when shipping is off.
func captureWrap(cfg *config.Config) (func(kv.Store) kv.Store, **metaship.Store) {
	if !shipping(cfg) {
		return nil, nil
	}
	var c *metaship.Store
	return func(s kv.Store) kv.Store {
		c = metaship.Capture(s)
		return c
	}, &c
}

// logShipping says at the start whether metadata is shipped, and why not.
func logShipping(cfg *config.Config, log *slog.Logger) {
	switch {
	case cfg.MetaURL != "":
		log.Info("metadata shipping (meta_ship_interval) is for a bbolt meta.db; on PostgreSQL use the database's point-in-time recovery (WAL archiving), see docs/operations.md")
	case cfg.S3.Endpoint == "":
		log.Info("metadata shipping (meta_ship_interval) is off: it ships to the S3 bucket, and objects are in a local directory")
	case cfg.MetaShipInterval == 0:
		log.Warn("meta_ship_interval is 0s: meta.db is not shipped to the bucket; losing this disk loses every document's keys since the last backup")
	default:
		log.Info("meta.db's changes are shipped to the bucket", "interval", cfg.MetaShipInterval.String(), "keep", cfg.MetaShipKeep.String())
	}
}

// newShipper makes the shipper of an opened app, and registers its
// metrics.
func (a *app) newShipper(capture *metaship.Store) {
	a.ship = &metaship.Shipper{Store: capture, Objects: a.rawObjs, Log: a.log.With("component", "metaship"),
		Master: func() crypt.Key { return *a.master.Load() }}
	status := func() metaship.Status {
		st, err := metaship.ReadStatus(capture)
		if err != nil {
			a.log.Warn("metadata shipping status unreadable", "err", err)
		}
		return st
	}
	a.metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gshare_meta_ship_lag_seconds",
			Help: "How long the oldest change of meta.db not yet shipped to the bucket has waited (0: all shipped)."},
			func() float64 { return status().Lag(time.Now()).Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gshare_meta_ship_pending_changes",
			Help: "Committed changes of meta.db not yet shipped to the bucket."},
			func() float64 { return float64(status().Pending) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gshare_meta_ship_failures_total",
			Help: "Rounds of metadata shipping that failed (each is retried at the next interval)."},
			func() float64 { return float64(a.ship.Failures()) }))
}

// shipStatus is the shipping part of GET /api/v1/check.
func (a *app) shipStatus() *wire.MetaShip {
	if a.ship == nil {
		return nil
	}
	st, err := metaship.ReadStatus(a.ship.Store)
	if err != nil {
		return &wire.MetaShip{Problem: "status unreadable"}
	}
	out := &wire.MetaShip{Generation: st.Generation, Pending: st.Pending, LagSeconds: st.Lag(time.Now()).Seconds(),
		Failures: a.ship.Failures(), IntervalSeconds: a.cfg.MetaShipInterval.Seconds()}
	if !st.LastShipped.IsZero() {
		t := st.LastShipped
		out.LastShipped = &t
	}
	return out
}

// runShipping ships every meta_ship_interval until ctx ends (every node
// with shipping on: a bbolt meta.db has one).
func (a *app) runShipping(ctx context.Context) {
	a.ship.Run(ctx, a.cfg.MetaShipInterval)
}

// shipNow runs one round of shipping; a failure is logged (and counted),
// and the running shipper retries.
func (a *app) shipNow(ctx context.Context) {
	a.shipStarted = true
	if err := a.ship.ShipOnce(ctx); err != nil {
		a.log.Warn("metadata not shipped to the bucket at start; retried every meta_ship_interval", "err", err)
	}
}

// finalShip ships what is left at a graceful stop (a crash leaves it in
// the journal, shipped at the next start).
func (a *app) finalShip() {
	if a.ship == nil || !a.shipStarted {
		return // a start refused (by the audit check, say) ships nothing
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.ship.ShipOnce(ctx); err != nil {
		a.log.Warn("the last metadata changes were not shipped at shutdown; they are at the next start", "err", err)
	}
}

// pruneShipped deletes shipped metadata older than meta_ship_keep, hourly,
// on the elected node.
func (a *app) pruneShipped(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := metaship.Prune(ctx, a.rawObjs, a.cfg.MetaShipKeep, time.Now()); err != nil {
			a.log.Warn("pruning shipped metadata failed; retried in an hour", "err", err)
		} else if n > 0 {
			a.log.Info("pruned shipped metadata older than meta_ship_keep", "generations", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// restoreFromBucket is "gshare restore --from-bucket [--at TIME]": it
// rebuilds DATA/meta.db from the metadata shipped to the S3 bucket, with
// the S3 settings and the master key alone.
func restoreFromBucket(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var at time.Time
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--from-bucket" || a == "-from-bucket":
		case a == "--at" || a == "-at":
			if i+1 == len(args) {
				return usageError{"usage: gshare restore --from-bucket [--at 2026-12-01T10:00:00Z] --data DIR (and the S3 settings)"}
			}
			i++
			a = "--at=" + args[i]
			fallthrough
		case strings.HasPrefix(a, "--at=") || strings.HasPrefix(a, "-at="):
			v := a[strings.Index(a, "=")+1:]
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return usageError{fmt.Sprintf("--at %q: want a time such as 2026-12-01T10:00:00Z (RFC 3339)", v)}
			}
			at = t
		default:
			rest = append(rest, a)
		}
	}
	cfg, err := config.Load(rest, os.Environ(), stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return err
	}
	if cfg.MetaURL != "" {
		return errors.New("restore: the metadata is in PostgreSQL (meta_url): restore it with the database's point-in-time recovery (docs/operations.md)")
	}
	if cfg.S3.Endpoint == "" {
		return errors.New("restore --from-bucket needs the S3 settings the server used (s3.endpoint, s3.bucket, s3.access_key, s3.secret_key)")
	}
	file := filepath.Join(cfg.Data, "meta.db")
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("%s exists: restore into a new data directory (or move it away first)", file)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return err
	}
	src := keys.Source{File: cfg.MasterKeyFile, Command: cfg.MasterKeyCommand, DataDir: cfg.Data}
	if src.File == "" && src.Command == "" {
		if _, err := os.Stat(filepath.Join(cfg.Data, "master.key")); err != nil {
			return fmt.Errorf("restore needs the master key: put it in %s (gshare keys join makes it from its shares), or set master_key_file", filepath.Join(cfg.Data, "master.key"))
		}
	}
	master, _, err := keys.LoadMaster(ctx, src)
	if err != nil {
		return err
	}
	objs, err := openObjects(ctx, cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := metaship.Restore(ctx, objs, master, file, at)
	if err != nil {
		return fmt.Errorf("restore: %w; nothing was written", err)
	}
	db, err := meta.Open(file, nil)
	if err == nil {
		if !keys.CheckMaster(db, master) {
			err = keys.ErrWrongMaster
		}
		db.Close()
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("restore: %w; nothing was kept", err)
	}
	fmt.Fprintf(stdout, "restored %s from the bucket in %s: generation %s of %s, %d changes after its snapshot (%d segments checked), the newest committed at %s; %d bytes.\n",
		file, time.Since(start).Round(time.Millisecond), res.Generation, res.Started.Format(time.RFC3339), res.Records, res.Segments,
		res.Last.Format(time.RFC3339Nano), res.Bytes)
	fmt.Fprintf(stdout, "Start the server with the same settings: gshare serve --data %s\n", cfg.Data)
	return nil
}
