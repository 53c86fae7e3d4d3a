// Command gshare is the G-Share server and its command-line tools.
//
//	gshare serve      start the server (embedded defaults need no configuration)
//	gshare user       add, list, disable, enable users; reset passwords
//	gshare role       grant and revoke roles
//	gshare dept       add and list departments
//	gshare audit      export the audit log; verify an export offline
//	gshare sync       two-way sync of a directory with a department
//	gshare keys       key status, rotation, shredding; split and join the master key
//	gshare backup     sealed backup of the metadata; gshare restore puts one back
//	gshare check      orphan, missing and damaged objects
//	gshare meta       move the metadata between meta.db and PostgreSQL
//	gshare version    print the version
//
// Run "gshare help" or "gshare COMMAND --help" for details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gshare:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands(stdin io.Reader) []command {
	return []command{
		{"serve", "start the server", serve},
		{"user", "add, list, disable, enable users; reset a password (against a running server)", userCmd(stdin)},
		{"role", "grant or revoke a role in a department (against a running server)", roleCmd},
		{"dept", "add or list departments (against a running server)", deptCmd},
		{"audit", "export the audit log, or verify an export offline", auditCmd},
		{"login", "get a device token through a sign-in in the browser (for sync and the other commands)", loginCmd},
		{"sync", "keep a local directory and a department in two-way sync", syncCmd},
		{"keys", "key status, rotation and shredding (against a running server); split custody of the master key", keysWith(stdin)},
		{"backup", "write a sealed backup of the metadata (from a running server)", backupCmd},
		{"restore", "restore a backup, or with --from-bucket the metadata shipped to S3, into a data directory (server stopped)", restoreCmd},
		{"check", "find orphan, missing and damaged objects (against a running server)", checkCmd},
		{"meta", "copy the metadata between a meta.db file and PostgreSQL, verified (server stopped)", metaCmd},
		{"version", "print the version", version},
	}
}

// run is the whole program, testable without a process: it returns
// instead of exiting.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return usageError{"no command given"}
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands(stdin) {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return usageError{fmt.Sprintf("unknown command %q", name)}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "G-Share: encrypted document repository for government departments.\n\nUsage: gshare COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands(nil) {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"gshare COMMAND --help\" for the flags of a command.\n")
}

func version(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(stdout, "gshare %s\n", v)
	return nil
}
