package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"gshare/storage/filesync"
)

// syncCmd is "gshare sync --server URL --token T --dept D [--folder F] DIR".
func syncCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gshare sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", os.Getenv("GSHARE_SERVER"), "server URL (GSHARE_SERVER)")
	token := fs.String("token", os.Getenv("GSHARE_TOKEN"), "device token (GSHARE_TOKEN); create one in the web app or with POST /api/v1/tokens")
	dept := fs.String("dept", "", "department to sync")
	folder := fs.String("folder", "", "only this folder of the department (a/b)")
	once := fs.Bool("once", false, "one pass, then exit")
	interval := fs.Duration("interval", 30*time.Second, "how often to rescan the directory; server changes arrive at once through the change feed")
	quiet := fs.Bool("quiet", false, "print only problems: no line per file, no summary, no progress")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gshare sync --server URL --token TOKEN --dept DEPT [--folder F] [--once] [--quiet] DIR\n\n"+
			"Keeps DIR and the department (or folder) in two-way sync. Conflicting edits keep both\n"+
			"copies (\"name (conflict YYYY-MM-DD HHMM).ext\", in this computer's local time). Renamed\n"+
			"and moved files and folders are moved, not sent again. Transfers of a few MiB or more\n"+
			"show their progress on the terminal (stderr). Safe to stop at any moment.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *server == "" || *token == "" || *dept == "" {
		fs.Usage()
		return usageError{"gshare sync needs --server, --token, --dept and one directory"}
	}
	o := filesync.Options{Server: *server, Token: *token, Dept: *dept, Folder: *folder, Dir: fs.Arg(0), Progress: stdout, Quiet: *quiet}
	if !*quiet && isTerminal(stderr) {
		o.Meter = stderr
	}
	c, err := filesync.New(o)
	if err != nil {
		return err
	}
	defer c.Close()
	if *once {
		stats, err := c.Once(ctx)
		if !*quiet {
			fmt.Fprintf(stdout, "= %s\n", stats)
		}
		return syncErr(err)
	}
	if !*quiet {
		fmt.Fprintf(stdout, "syncing %s with %s/%s; stop with Ctrl-C at any time\n", fs.Arg(0), *server, *dept)
	}
	return syncErr(c.Run(ctx, *interval))
}

// isTerminal reports whether w is a terminal (a character device), where
// a progress line that rewrites itself can be shown; a pipe, a file or a
// journal gets none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func syncErr(err error) error {
	if errors.Is(err, filesync.ErrAuth) {
		return fmt.Errorf("%w: create a new device token and start again; local files are untouched", err)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
