package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"gshare/storage/backup"
)

// certReloader serves the certificate in cert and key files and reloads
// them on SIGHUP, keeping the old pair if the new one does not load.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	c.cur.Store(&pair)
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

func (c *certReloader) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := c.load(); err != nil {
				c.log.Error("SIGHUP: keeping the old certificate", "err", err)
			} else {
				c.log.Info("SIGHUP: TLS certificate reloaded", "cert", c.certFile)
			}
		}
	}
}

// scheduledBackups writes a sealed backup of meta.db every interval and
// keeps the newest BackupKeep.
func (a *app) scheduledBackups(ctx context.Context) {
	dir := a.cfg.BackupDir
	if dir == "" {
		dir = filepath.Join(a.cfg.Data, "backups")
	}
	t := time.NewTicker(a.cfg.BackupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		file, n, err := a.backupTo(dir)
		if errors.Is(err, errors.ErrUnsupported) {
			// The metadata store has no hot copy (PostgreSQL): saying so
			// every interval would change nothing.
			a.log.Error("scheduled backups stopped: the metadata store cannot be copied while it runs; back it up with the database's own tools", "err", err)
			return
		}
		if err != nil {
			a.log.Error("scheduled backup failed", "dir", dir, "err", err)
			continue
		}
		a.log.Info("scheduled backup written", "file", file, "bytes", n)
		pruneBackups(dir, a.cfg.BackupKeep, a.log)
	}
}

func (a *app) backupTo(dir string) (string, int64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	file := filepath.Join(dir, "gshare-"+time.Now().UTC().Format("20060102-150405")+".gsbk")
	f, err := os.OpenFile(file+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", 0, err
	}
	n, err := backup.Write(f, a.db, *a.master.Load())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(file+".tmp", file)
	}
	if err != nil {
		os.Remove(file + ".tmp")
	}
	return file, n, err
}

func pruneBackups(dir string, keep int, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "gshare-") && strings.HasSuffix(e.Name(), ".gsbk") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err == nil {
			log.Info("old backup removed", "file", names[0])
		}
		names = names[1:]
	}
}
