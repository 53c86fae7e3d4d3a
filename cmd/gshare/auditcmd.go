package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"gshare/acl/audit"
	"gshare/api/client"
)

// auditCmd is "gshare audit export|verify".
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: gshare audit export --out FILE [--from T] [--to T] [--dept D] [--since N]\n" +
		"       gshare audit verify [--key PUBLIC-KEY] [--previous CHECKPOINT-FILE] [--dept D] FILE"
	if len(args) == 0 {
		return usageError{usage}
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fs := flag.NewFlagSet("gshare audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "export":
		out := fs.String("out", "", "file to write (JSON Lines)")
		from := fs.String("from", "", "first time, RFC 3339 or a date")
		to := fs.String("to", "", "end time (exclusive)")
		dept := fs.String("dept", "", "only this department (an auditor's scope)")
		since := fs.Int64("since", 0, "include a consistency proof from an earlier checkpoint of this size")
		newClient := clientFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || fs.NArg() != 0 {
			return usageError{usage}
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		body, err := c.AuditExport(ctx, client.AuditQuery{From: *from, To: *to, Dept: *dept, Since: *since})
		if err != nil {
			return err
		}
		return saveTo(body, *out, stdout)
	case "verify":
		key := fs.String("key", "", "trust this public key instead of the one in the file (as from GET /api/v1/audit/checkpoint)")
		prev := fs.String("previous", "", "a signed checkpoint kept from earlier: check the log only grew since")
		dept := fs.String("dept", "", "require the file to prove it holds every entry of this department in its range")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{usage}
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		var previous []byte
		if *prev != "" {
			if previous, err = os.ReadFile(*prev); err != nil {
				return err
			}
		}
		rep, err := audit.VerifyExport(f, *key, previous)
		if err == nil && *dept != "" && (rep.Complete == nil || rep.Dept != *dept && rep.Dept != "") {
			kind := "a filtered export, with inclusion proofs only"
			if rep.Complete != nil {
				kind = "an export of department " + rep.Dept
			}
			rep.Problem = fmt.Sprintf("the file does not prove it holds every entry of department %s: it is %s", *dept, kind)
			err = fmt.Errorf("audit: %s: %w", rep.Problem, audit.ErrTampered)
		}
		if err != nil {
			if errors.Is(err, audit.ErrTampered) {
				fmt.Fprintf(stdout, "FAILED: %s\n", rep.Problem)
			}
			return err
		}
		fmt.Fprintf(stdout, "OK: %d entries, each proven in the signed log of %d entries\n", rep.Entries, rep.Size)
		if c := rep.Complete; c != nil {
			of := "every department"
			if rep.Dept != "" {
				of = "department " + rep.Dept
			}
			fmt.Fprintf(stdout, "complete: every entry of %s with an index from %d up to %d is in the file", of, c.From, c.To)
			if rep.Redacted > 0 {
				fmt.Fprintf(stdout, " (%d entries of other departments appear only as department and hash)", rep.Redacted)
			}
			fmt.Fprintln(stdout)
			if c.From > 0 {
				fmt.Fprintf(stdout, "entries before index %d are proven to be in the log, not to be all there\n", c.From)
			}
			if c.To < rep.Size {
				fmt.Fprintf(stdout, "entries from index %d on are not in the file\n", c.To)
			}
		} else {
			fmt.Fprintln(stdout, "not a complete export: entries left out would not be noticed")
		}
		return nil
	}
	return usageError{usage}
}
