package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"

	"gshare/acl"
	"gshare/config"
	"gshare/storage/kv"
	"gshare/storage/kv/pgkv"
	"gshare/storage/meta"
)

// openMeta opens the metadata store the configuration names: the
// PostgreSQL database at meta_url, or else DATA/meta.db (bbolt, the
// default, which needs nothing set up). It logs which engine it opened,
// never a password.
// wrap, if set, wraps the bbolt engine (metadata shipping's capture).
func openMeta(ctx context.Context, cfg *config.Config, log *slog.Logger, wrap func(kv.Store) kv.Store) (*meta.DB, error) {
	opts := &meta.Options{Rules: acl.Paths{}, Wrap: wrap}
	if cfg.MetaURL == "" {
		file := filepath.Join(cfg.Data, "meta.db")
		db, err := meta.Open(file, opts)
		if err != nil {
			return nil, err
		}
		log.Info("metadata store opened", "engine", "bbolt", "file", file)
		return db, nil
	}
	s, err := pgkv.Open(ctx, cfg.MetaURL) // its errors carry no password
	if err != nil {
		return nil, fmt.Errorf("meta_url: %w", err)
	}
	// Change-feed wake-ups from the other nodes by LISTEN/NOTIFY, with
	// the polling of meta.DefaultChangePoll kept as the fallback.
	opts.Notifier = s.Notifier(meta.ChangesChannel)
	db, err := meta.OpenStore(s, opts)
	if err != nil {
		return nil, fmt.Errorf("meta_url: %w", err)
	}
	log.Info("metadata store opened", "engine", "postgresql", "url", redactURL(cfg.MetaURL))
	return db, nil
}

// redactURL returns a postgres:// URL without its password (in the user
// part or a password parameter), for the log.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// pingWithin runs a readiness check that takes no context (meta's Ping)
// and gives up when ctx ends: a database that does not answer makes
// /readyz say so within its time limit instead of hanging.
func pingWithin(ping func() error) func(context.Context) error {
	return func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- ping() }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
