package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gshare/api/client"
	"gshare/api/wire"
	"gshare/storage/backup"
	"gshare/storage/keys"
	"gshare/storage/meta"
)

// keysCmd is "gshare keys status|rotate|rotate-master|confirm-master|shred"
// (split and join: keysWith).
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: gshare keys status | rotate --dept D | rotate-master | confirm-master | shred --dept D --confirm D\n" +
		"These need --server and --token (or GSHARE_SERVER, GSHARE_TOKEN).\n" +
		"       gshare keys split --shares N --threshold T | join [FILE ...] | fingerprint\n" +
		"These work offline on the master key file (gshare keys split --help, gshare keys join --help)."
	if len(args) == 0 {
		return usageError{usage}
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fs := flag.NewFlagSet("gshare keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dept := fs.String("dept", "", "department")
	confirm := fs.String("confirm", "", "for shred: the department id again")
	newClient := clientFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	var job wire.KeyJob
	switch args[0] {
	case "status":
		st, err := c.Keys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEPARTMENT\tKEY VERSION\tCREATED\tDATA KEYS\tSTATE")
		for _, k := range st.Keys {
			state := "old"
			if k.Current {
				state = "current"
			}
			if k.Rotating {
				state += ", rotation under way"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", k.Dept, k.Version, k.Created, k.DataKeys, state)
		}
		tw.Flush()
		if st.OldMasterKeyFile != "" {
			fmt.Fprintf(stdout, "\nThe old master key is kept at %s until you run: gshare keys confirm-master\n", st.OldMasterKeyFile)
		}
		return nil
	case "rotate":
		if *dept == "" {
			return usageError{usage}
		}
		job, err = c.RotateKey(ctx, *dept)
	case "rotate-master":
		if job, err = c.RotateMaster(ctx); err == nil {
			// On stderr: stdout stays the job's JSON, for scripts.
			fmt.Fprintln(stderr, "The master key changed: shares of the old key open only backups made before now.\n"+
				"Split the new key for its envelopes: gshare keys split --shares N --threshold T (on the server's machine).")
		}
	case "confirm-master":
		if err = c.ConfirmMaster(ctx); err == nil {
			fmt.Fprintln(stdout, "old master key file deleted")
		}
		return err
	case "shred":
		if *dept == "" || *confirm == "" {
			return usageError{usage}
		}
		job, err = c.Shred(ctx, *dept, *confirm)
	default:
		return usageError{usage}
	}
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(job, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return nil
}

// backupCmd is "gshare backup --out FILE": a sealed snapshot from the
// running server.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gshare backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write")
	newClient := clientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"usage: gshare backup --out FILE   (scheduled backups: backup_interval in the server's configuration)"}
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	body, err := c.Backup(ctx)
	if err != nil {
		return err
	}
	return saveTo(body, *out, stdout)
}

// restoreCmd is "gshare restore FILE --data DIR [--force]", offline.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if slices.ContainsFunc(args, func(a string) bool { return a == "--from-bucket" || a == "-from-bucket" }) {
		return restoreFromBucket(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("gshare restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory to restore into")
	force := fs.Bool("force", false, "replace meta.db in a data directory that is not empty")
	keyFile := fs.String("master-key-file", os.Getenv("GSHARE_MASTER_KEY_FILE"), "the master key the backup was made under (default DATA/master.key)")
	metaURL := fs.String("meta-url", os.Getenv("GSHARE_META_URL"), "set when the server keeps its metadata in PostgreSQL: restore then refuses (use the database's own tools)")
	// Flags may follow the file: gshare restore FILE --data DIR.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || *data == "" {
		return usageError{"usage: gshare restore FILE --data DIR [--force] [--master-key-file F]\n       gshare restore --from-bucket [--at TIME] --data DIR (with the S3 settings)"}
	}
	if *metaURL != "" {
		return errors.New("restore: the metadata is in PostgreSQL (meta_url): gshare restore only puts back a bbolt meta.db from a sealed backup. " +
			"Restore the database with PostgreSQL's tools (pg_restore, or a pg_basebackup copy), or unset GSHARE_META_URL to restore a meta.db")
	}
	if ents, err := os.ReadDir(*data); err == nil && !*force {
		for _, e := range ents {
			if e.Name() != "master.key" {
				return fmt.Errorf("%s is not empty; restore into a new directory, or add --force to replace its meta.db", *data)
			}
		}
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	src := keys.Source{File: *keyFile, Command: os.Getenv("GSHARE_MASTER_KEY_COMMAND"), DataDir: *data}
	if src.File == "" && src.Command == "" {
		if _, err := os.Stat(filepath.Join(*data, "master.key")); err != nil {
			return fmt.Errorf("restore needs the master key the backup was made under: copy it to %s, or pass --master-key-file", filepath.Join(*data, "master.key"))
		}
	}
	master, _, err := keys.LoadMaster(ctx, src)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	r, size, err := backup.Open(f, fi.Size(), master)
	if err != nil {
		return err
	}
	tmp := filepath.Join(*data, "meta.db.restoring")
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, r)
	if err == nil && n != size {
		err = errors.New("backup shorter than announced")
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		var db *meta.DB
		if db, err = meta.Open(tmp, nil); err == nil {
			if !keys.CheckMaster(db, master) {
				err = keys.ErrWrongMaster
			}
			db.Close()
		}
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(*data, "meta.db"))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s (%d bytes of metadata).\n", file, *data, n)
	fmt.Fprintf(stdout, "Start the server with the same object store. The audit log anchored in the object store is newer\n"+
		"than this backup, so start once with --allow-audit-rollback (the override is audited).\n")
	return nil
}

// checkCmd is "gshare check [--deep] [--repair] [--grace D]" against the
// running server.
func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gshare check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	deep := fs.Bool("deep", false, "decrypt and authenticate every segment of every version (reads all data)")
	repair := fs.Bool("repair", false, "delete orphan objects older than --grace (nothing else is changed)")
	grace := fs.Duration("grace", 0, "with --repair: only orphans older than this (default 24h)")
	newClient := clientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	rep, err := c.Check(ctx, client.CheckOptions{Deep: *deep, Repair: *repair, Grace: *grace})
	if err != nil {
		return err
	}
	for _, f := range rep.Orphans {
		fmt.Fprintf(stdout, "orphan     %s %s\n", f.Object, f.Problem)
	}
	for _, f := range rep.Missing {
		fmt.Fprintf(stdout, "missing    %s (file %s)\n", f.Object, f.File)
	}
	for _, f := range rep.Integrity {
		fmt.Fprintf(stdout, "integrity  %s (file %s): %s\n", f.Object, f.File, f.Problem)
	}
	s := rep.Summary
	fmt.Fprintf(stdout, "%d objects, %d versions: %d orphans (%d deleted), %d missing, %d failing integrity\n",
		s["objects"], s["versions"], s["orphans"], s["repaired"], s["missing"], s["integrity"])
	if m := rep.MetaShip; m != nil {
		last := "nothing yet"
		if m.LastShipped != nil {
			last = "changes committed up to " + m.LastShipped.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "metadata shipped to the bucket: %s; %d changes not yet shipped (oldest waiting %.0fs; interval %.0fs); %d failed rounds since the start\n",
			last, m.Pending, m.LagSeconds, m.IntervalSeconds, m.Failures)
	}
	if s["missing"] > 0 || s["integrity"] > 0 {
		return errors.New("check found damage")
	}
	return nil
}
