package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"gshare/acl/audit"
)

// auditCmd is "gshare audit export|verify".
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: gshare audit export --out FILE [--from T] [--to T] [--dept D] [--since N]\n" +
		"       gshare audit verify [--key PUBLIC-KEY] [--previous CHECKPOINT-FILE] [--dept D] FILE"
	if len(args) == 0 {
		return usageError{usage}
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
		q := url.Values{}
		for k, v := range map[string]string{"from": *from, "to": *to, "dept": *dept} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if *since > 0 {
			q.Set("since", fmt.Sprint(*since))
		}
		return c.download(ctx, "/api/v1/audit/export?"+q.Encode(), *out, stdout)
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

// download saves a GET answer to a file.
func (c *client) download(ctx context.Context, path, file string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.server+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.server, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return c.call(ctx, "GET", path, nil, nil) // the same request, for its error text
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, res.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", file, n)
	return nil
}
