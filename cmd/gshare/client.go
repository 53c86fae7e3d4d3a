package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"gshare/api/client"
	"gshare/api/wire"
)

// clientFlags adds --server and --token (defaulting to GSHARE_SERVER and
// GSHARE_TOKEN) to fs and returns a constructor to call after parsing.
// The administrative commands talk to the running server through its API
// (api/client): the server holds meta.db's lock, and every change goes
// through its authorisation and audit.
func clientFlags(fs *flag.FlagSet) func() (*client.Client, error) {
	server := fs.String("server", os.Getenv("GSHARE_SERVER"), "server URL (GSHARE_SERVER)")
	token := fs.String("token", os.Getenv("GSHARE_TOKEN"), "device token of an administrator (GSHARE_TOKEN)")
	return func() (*client.Client, error) {
		if *server == "" || *token == "" {
			return nil, usageError{"set the server and a token: --server URL --token TOKEN, or GSHARE_SERVER and GSHARE_TOKEN (create a token in the web app or with POST /api/v1/tokens)"}
		}
		// api/client's default: no overall timeout (gshare check of a
		// large store, a backup or an audit export take minutes; Ctrl-C
		// cancels through the context), while Go's default transport
		// bounds reaching the server (30 s to connect, 10 s for TLS).
		c, err := client.New(*server, *token, nil)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		return c, nil
	}
}

// isHelp reports whether a command's first argument asks for its usage,
// which it prints to stdout before it needs a server or a token.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments ("gshare dept add ID --name N"), which the
// flag package alone stops at, and returns the positional ones. After
// "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// saveTo writes a downloaded body to a new file.
func saveTo(body io.ReadCloser, file string, stdout io.Writer) error {
	defer body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", file, n)
	return nil
}

// readSecret reads one line (a password) from stdin, prompting on stderr.
func readSecret(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	fmt.Fprint(stderr, prompt)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageError{"no password given on standard input"}
	}
	return line, nil
}

// userCmd is "gshare user add|list|disable|enable|passwd".
func userCmd(stdin io.Reader) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		usage := "usage: gshare user add [--name NAME] USERNAME | list | disable USERNAME | enable USERNAME | passwd USERNAME\n" +
			"Passwords are read from standard input. Needs --server and --token (or GSHARE_SERVER, GSHARE_TOKEN)."
		if len(args) == 0 {
			return usageError{usage}
		}
		if isHelp(args[0]) {
			fmt.Fprintln(stdout, usage)
			return nil
		}
		fs := flag.NewFlagSet("gshare user "+args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("name", "", "full name (add)")
		newClient := clientFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		rest := fs.Args()
		need := func(n int) error {
			if len(rest) != n {
				return usageError{usage}
			}
			return nil
		}
		switch args[0] {
		case "add":
			if err := need(1); err != nil {
				return err
			}
			pw, err := readSecret(stdin, stderr, "password for "+rest[0]+": ")
			if err != nil {
				return err
			}
			u, err := c.CreateUser(ctx, wire.NewUser{Username: rest[0], Password: pw, Name: *name})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created user %s\n", u.Username)
		case "list":
			users, err := c.Users(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tNAME\tSTATE\tROLES")
			for _, u := range users {
				state := "active"
				if u.Disabled {
					state = "disabled"
				}
				var roles []string
				for _, r := range u.Roles {
					roles = append(roles, r.Role+"@"+r.Department)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Username, u.Name, state, strings.Join(roles, " "))
			}
			return tw.Flush()
		case "disable", "enable":
			if err := need(1); err != nil {
				return err
			}
			disabled := args[0] == "disable"
			if _, err := c.UpdateUser(ctx, rest[0], wire.UserUpdate{Disabled: &disabled}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%sd user %s\n", args[0], rest[0])
		case "passwd":
			if err := need(1); err != nil {
				return err
			}
			pw, err := readSecret(stdin, stderr, "new password for "+rest[0]+": ")
			if err != nil {
				return err
			}
			if err := c.SetPassword(ctx, rest[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "password of %s changed; their sessions and tokens were revoked\n", rest[0])
		default:
			return usageError{usage}
		}
		return nil
	}
}

// roleCmd is "gshare role grant|revoke USERNAME DEPT ROLE".
func roleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: gshare role grant|revoke USERNAME DEPARTMENT ROLE   (DEPARTMENT \"*\" for all; roles: admin, manager, editor, viewer, auditor)\n" +
		"Needs --server and --token (or GSHARE_SERVER, GSHARE_TOKEN)."
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	if len(args) == 0 || args[0] != "grant" && args[0] != "revoke" {
		return usageError{usage}
	}
	fs := flag.NewFlagSet("gshare role "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	newClient := clientFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return usageError{usage}
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	u, r := fs.Arg(0), wire.Role{Department: fs.Arg(1), Role: fs.Arg(2)}
	if args[0] == "grant" {
		_, err = c.GrantRole(ctx, u, r)
	} else {
		_, err = c.RevokeRole(ctx, u, r)
	}
	if err != nil {
		return err
	}
	verb := map[string]string{"grant": "granted", "revoke": "revoked"}[args[0]]
	fmt.Fprintf(stdout, "%s %s in %s for %s\n", verb, r.Role, r.Department, u)
	return nil
}

// deptCmd is "gshare dept add ID --name NAME | list".
func deptCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: gshare dept add ID --name NAME | list\n" +
		"Departments are created by an administrator; ids are lower-case letters, digits and '-', 2 to 32 long.\n" +
		"Needs --server and --token (or GSHARE_SERVER, GSHARE_TOKEN)."
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "add", "list":
	default:
		return usageError{usage}
	}
	fs := flag.NewFlagSet("gshare dept "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var name *string
	if args[0] == "add" {
		name = fs.String("name", "", "the department's name as people read it, such as ກົມການເງິນ (required)")
	}
	newClient := clientFlags(fs)
	fs.Usage = func() {
		if args[0] == "add" {
			fmt.Fprintf(stderr, "Usage: gshare dept add ID --name NAME\n\nCreates a department (administrators only). ID is lower-case [a-z0-9-], 2 to 32\ncharacters, and names the department in paths (/ID/folder/file); NAME may be in Lao.\n\nFlags:\n")
		} else {
			fmt.Fprintf(stderr, "Usage: gshare dept list\n\nLists the departments: all of them for an administrator, otherwise those you hold a role in.\n\nFlags:\n")
		}
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case args[0] == "add" && (len(pos) != 1 || strings.TrimSpace(*name) == ""):
		fs.Usage()
		return usageError{"gshare dept add needs an ID and --name NAME"}
	case args[0] == "list" && len(pos) != 0:
		fs.Usage()
		return usageError{"gshare dept list takes no arguments"}
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	if args[0] == "add" {
		d, err := c.CreateDept(ctx, wire.NewDept{ID: pos[0], Name: *name})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created department %s (%s)\n", d.ID, d.Name)
		return nil
	}
	depts, err := c.Depts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED")
	for _, d := range depts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.ID, d.Name, d.Created)
	}
	return tw.Flush()
}
