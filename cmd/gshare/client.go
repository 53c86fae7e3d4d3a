package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// client talks to a running server for the administrative commands: the
// server holds meta.db's lock, so state changes go through its API (and
// its authorisation and audit).
type client struct {
	server string
	token  string
	http   *http.Client
}

// clientFlags adds --server and --token (defaulting to GSHARE_SERVER and
// GSHARE_TOKEN) to fs and returns a constructor to call after parsing.
func clientFlags(fs *flag.FlagSet) func() (*client, error) {
	server := fs.String("server", os.Getenv("GSHARE_SERVER"), "server URL (GSHARE_SERVER)")
	token := fs.String("token", os.Getenv("GSHARE_TOKEN"), "device token of an administrator (GSHARE_TOKEN)")
	return func() (*client, error) {
		if *server == "" || *token == "" {
			return nil, usageError{"set the server and a token: --server URL --token TOKEN, or GSHARE_SERVER and GSHARE_TOKEN (create a token in the web app or with POST /api/v1/tokens)"}
		}
		return &client{server: strings.TrimSuffix(*server, "/"), token: *token, http: &http.Client{Timeout: time.Minute}}, nil
	}
}

// apiError is an error answer of the server.
type apiError struct {
	Status int
	Code   string `json:"code"`
	Msg    string `json:"error"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d: %s (%s)", e.Status, e.Msg, e.Code)
}

func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.server, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 400 {
		e := &apiError{Status: res.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Msg == "" {
			e.Msg = strings.TrimSpace(string(raw))
		}
		return e
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
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

type userInfo struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Disabled bool   `json:"disabled"`
	Roles    []struct {
		Department string `json:"department"`
		Role       string `json:"role"`
	} `json:"roles"`
}

// userCmd is "gshare user add|list|disable|enable|passwd".
func userCmd(stdin io.Reader) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		usage := "usage: gshare user add [--name NAME] USERNAME | list | disable USERNAME | enable USERNAME | passwd USERNAME\n" +
			"Passwords are read from standard input. Needs --server and --token (or GSHARE_SERVER, GSHARE_TOKEN)."
		if len(args) == 0 {
			return usageError{usage}
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
			var u userInfo
			if err := c.call(ctx, "POST", "/api/v1/users", map[string]string{"username": rest[0], "password": pw, "name": *name}, &u); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created user %s\n", u.Username)
		case "list":
			var out struct{ Users []userInfo }
			if err := c.call(ctx, "GET", "/api/v1/users", nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tNAME\tSTATE\tROLES")
			for _, u := range out.Users {
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
			if err := c.call(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(rest[0]), map[string]bool{"disabled": args[0] == "disable"}, nil); err != nil {
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
			if err := c.call(ctx, "PUT", "/api/v1/users/"+url.PathEscape(rest[0])+"/password", map[string]string{"password": pw}, nil); err != nil {
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
	usage := "usage: gshare role grant|revoke USERNAME DEPARTMENT ROLE   (DEPARTMENT \"*\" for all; roles: admin, manager, editor, viewer, auditor)"
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
	method := "PUT"
	if args[0] == "revoke" {
		method = "DELETE"
	}
	u, d, r := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	if err := c.call(ctx, method, "/api/v1/users/"+url.PathEscape(u)+"/roles", map[string]string{"department": d, "role": r}, nil); err != nil {
		return err
	}
	verb := map[string]string{"grant": "granted", "revoke": "revoked"}[args[0]]
	fmt.Fprintf(stdout, "%s %s in %s for %s\n", verb, r, d, u)
	return nil
}
