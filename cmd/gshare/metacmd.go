package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/pgkv"
)

// metaCmd is "gshare meta migrate": it copies the metadata store from one
// engine to another, offline (servers stopped), and verifies the copy:
//
//	gshare meta migrate --data DIR --to postgres://gshare@db1,db2/gshare?target_session_attrs=read-write
//	gshare meta migrate --from postgres://... --to DIR/meta.db
func metaCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: gshare meta migrate [--data DIR | --from SRC] --to DST (SRC, DST: a meta.db file or a postgres:// URL)"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, usage+"\n\nCopies every bucket, key and sequence into an empty destination, then compares the two.\n"+
			"Stop every server first. Then set meta_url (GSHARE_META_URL, --meta-url) to the new database,\n"+
			"or clear it to go back to DATA/meta.db. Run \"gshare meta migrate --help\" for the flags.")
		return nil
	}
	if len(args) == 0 || args[0] != "migrate" {
		return usageError{usage}
	}
	fs := flag.NewFlagSet("gshare meta migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory whose meta.db is the source")
	from := fs.String("from", "", "source: a meta.db file or a postgres:// URL (default DATA/meta.db)")
	to := fs.String("to", "", "destination, empty: a postgres:// URL or a new meta.db file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *from == "" && *data != "" {
		*from = filepath.Join(*data, "meta.db")
	}
	if *from == "" || *to == "" || fs.NArg() != 0 {
		return usageError{usage}
	}
	src, err := openKV(ctx, *from, false)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	dst, err := openKV(ctx, *to, true)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer dst.Close()
	start := time.Now()
	st, err := kv.Copy(dst, src)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied and verified %d buckets, %d keys (%d bytes) in %d transactions, %s\n",
		st.Buckets, st.Keys, st.Bytes, st.Batches, time.Since(start).Round(time.Millisecond))
	return nil
}

// isURL tells a PostgreSQL connection string from a file name.
func isURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.Contains(s, "host=")
}

// openKV opens a store; a bbolt file is opened with a short lock timeout,
// since a running server holds it.
func openKV(ctx context.Context, spec string, create bool) (kv.Store, error) {
	if isURL(spec) {
		return pgkv.Open(ctx, spec)
	}
	if !create {
		if _, err := os.Stat(spec); err != nil {
			return nil, err
		}
	}
	s, err := boltkv.Open(spec, &boltkv.Options{Timeout: 2 * time.Second})
	if errors.Is(err, boltkv.ErrLocked) {
		return nil, fmt.Errorf("%s is in use: stop the G-Share server first", spec)
	}
	return s, err
}
