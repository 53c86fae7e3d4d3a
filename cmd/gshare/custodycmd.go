package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gshare/config"
	"gshare/storage/keys"
)

// Split custody of the master key, offline: "gshare keys split" and
// "gshare keys join" read and write the master key where gshare serve,
// with the same configuration, would (docs/operations.md, "Key ceremony").

const splitUsage = `usage: gshare keys split --shares N --threshold T [--out DIR] [--config FILE] [--data DIR] [--master-key-file F]

Splits the master key into N shares for sealed envelopes: any T of them recover
it (gshare keys join), fewer reveal nothing. Run it on the server's machine; it
needs no running server. The key is read where "gshare serve" with the same
--config, --data and GSHARE_* variables reads it (master_key_file, else
DATA/master.key, or the output of master_key_command).

The shares go to standard output, or with --out to one file per share in DIR
(mode 0600; DIR is created 0700). Nothing secret goes to standard error.
Each share names its key (fingerprint) and its split: shares of different
splits never combine, so after every split, destroy the envelopes of the
previous one. After "gshare keys rotate-master", split again: the old shares
open only backups made before the rotation.

Flags:`

const joinUsage = `usage: gshare keys join [--threshold T] [--stdout | --master-key-file F | --data DIR] [--config FILE] [FILE ...]

Recovers the master key from the shares of "gshare keys split" and writes it
as the key file gshare serve reads (64 hex digits, mode 0600): --master-key-file,
else master_key_file from the configuration, else DATA/master.key. An existing
key file is never replaced. With --stdout the key is printed instead (for a
key service: master_key_command).

Shares are read from the FILEs ("-" is standard input), one a line; blank lines
and lines starting with # are skipped, so a sheet printed by split reads back as
it is. Without FILEs, from standard input: at a terminal each share is asked for
in turn, without echo, until enough are in.

Refused: a mistyped share (named by its checksum), a share twice, shares of
another key or another split, too few shares (it says how many more), and any
result whose fingerprint differs from the one the shares carry.

Flags:`

// keysWith is "gshare keys": split, join and fingerprint work offline on
// the key file; the other subcommands go to a running server (keysCmd).
func keysWith(stdin io.Reader) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			switch args[0] {
			case "split":
				return keySplitCmd(ctx, args[1:], stdout, stderr)
			case "join":
				return keyJoinCmd(ctx, args[1:], stdin, stdout, stderr)
			case "fingerprint":
				return keyFingerprintCmd(ctx, args[1:], stdout, stderr)
			}
		}
		return keysCmd(ctx, args, stdout, stderr)
	}
}

// keySource returns where gshare serve would read the master key, from
// the configuration file, GSHARE_* variables and --data, as gshare serve
// reads them.
func keySource(configFile, data, keyFile string, stderr io.Writer) (keys.Source, error) {
	var args []string
	if configFile != "" {
		args = append(args, "--config", configFile)
	}
	if data != "" {
		args = append(args, "--data", data)
	}
	cfg, err := config.Load(args, os.Environ(), stderr)
	if err != nil {
		return keys.Source{}, fmt.Errorf("reading the server's configuration: %w", err)
	}
	src := keys.Source{File: cfg.MasterKeyFile, Command: cfg.MasterKeyCommand, DataDir: cfg.Data}
	if keyFile != "" {
		src.File, src.Command = keyFile, ""
	}
	return src, nil
}

func describe(src keys.Source) string {
	if src.Command != "" {
		return "the output of master_key_command"
	}
	return keys.MasterFile(src)
}

// keyFingerprintCmd prints the fingerprint of the master key the server
// reads, to compare with the labels of the envelopes and the ceremony
// record without opening anything.
func keyFingerprintCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("gshare keys fingerprint", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), "usage: gshare keys fingerprint [--config FILE] [--data DIR] [--master-key-file F]\n\n"+
			"Prints the fingerprint of the master key gshare serve reads (as split does), which the\n"+
			"shares and envelopes of that key carry. It reveals nothing of the key.\n\nFlags:")
		flags.PrintDefaults()
	}
	configFile := flags.String("config", os.Getenv("GSHARE_CONFIG"), "the server's configuration file (GSHARE_CONFIG)")
	data := flags.String("data", "", "the server's data directory (default: as gshare serve)")
	keyFile := flags.String("master-key-file", "", "this key file instead of the server's")
	if len(args) > 0 && isHelp(args[0]) {
		flags.SetOutput(stdout)
		flags.Usage()
		return nil
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return usageError{"usage: gshare keys fingerprint [--config FILE] [--data DIR] [--master-key-file F]"}
	}
	src, err := keySource(*configFile, *data, *keyFile, stderr)
	if err != nil {
		return err
	}
	k, err := keys.ReadMaster(ctx, src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no master key at %s", describe(src))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s  %s\n", keys.Fingerprint(k), describe(src))
	return nil
}

func keySplitCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("gshare keys split", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), splitUsage)
		flags.PrintDefaults()
	}
	n := flags.Int("shares", 0, "how many shares to make (1-255), one per custodian")
	t := flags.Int("threshold", 0, "how many shares recover the key (1 to --shares)")
	out := flags.String("out", "", "write one file per share into this directory instead of standard output")
	configFile := flags.String("config", os.Getenv("GSHARE_CONFIG"), "the server's configuration file (GSHARE_CONFIG)")
	data := flags.String("data", "", "the server's data directory (default: as gshare serve: GSHARE_DATA, the configuration, ./gshare-data)")
	keyFile := flags.String("master-key-file", "", "split this key file instead of the server's (an old key kept for old backups: master.key.old)")
	if len(args) > 0 && isHelp(args[0]) {
		flags.SetOutput(stdout)
		flags.Usage()
		return nil
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 || *n == 0 || *t == 0 {
		return usageError{"usage: gshare keys split --shares N --threshold T [--out DIR] [--config FILE] [--data DIR] [--master-key-file F]\n" +
			"(for example --shares 5 --threshold 3; gshare keys split --help says more)"}
	}
	if *n < 1 || *n > 255 || *t < 1 || *t > *n {
		return usageError{fmt.Sprintf("--shares %d --threshold %d: want 1 ≤ threshold ≤ shares ≤ 255", *n, *t)}
	}
	src, err := keySource(*configFile, *data, *keyFile, stderr)
	if err != nil {
		return err
	}
	k, err := keys.ReadMaster(ctx, src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no master key at %s: nothing to split (check --data, --config or --master-key-file)", describe(src))
	}
	if err != nil {
		return err
	}
	if file := keys.MasterFile(src); file != "" && *keyFile == "" {
		if _, err := os.Stat(file + ".new"); err == nil {
			fmt.Fprintf(stderr, "note: %s.new exists: a master key rotation was interrupted. If the server has not started since,\n"+
				"its data may already use that key; start the server once (it finishes the rotation), then split again.\n", file)
		}
		if _, err := os.Stat(file + ".old"); err == nil {
			fmt.Fprintf(stderr, "note: %s.old is the key before the last rotation; backups made before it need that key.\n"+
				"Keep it, or split it too: gshare keys split --master-key-file %s.old ...\n", file, file)
		}
	}
	shares, err := keys.SplitMaster(k, *n, *t)
	if err != nil {
		return err
	}
	switch {
	case *t == 1:
		fmt.Fprintln(stderr, "note: threshold 1: every share alone is the master key.")
	case *t == *n:
		fmt.Fprintf(stderr, "note: all %d shares are needed: one lost envelope loses the key.\n", *n)
	}
	s0 := shares[0]
	header := fmt.Sprintf("# G-Share master key: %d shares, any %d recover it (gshare keys join).\n"+
		"# Key fingerprint %s, split %s, made %s.\n",
		*n, *t, s0.Fingerprint, s0.Split, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if *out == "" {
		fmt.Fprint(stdout, header)
		fmt.Fprintln(stdout, "# One share per sealed envelope. docs/operations.md, \"Key ceremony\".")
		for _, s := range shares {
			fmt.Fprintf(stdout, "\n# Share %d of %d\n%s\n", s.Index, s.Of, s)
		}
		return nil
	}
	files, err := writeShareFiles(*out, header, shares)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "master key %s split into %d shares (any %d recover it), split %s:\n", s0.Fingerprint, *n, *t, s0.Split)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	fmt.Fprintln(stdout, "Print each on its own sheet for its envelope, then delete the files (shred -u).")
	return nil
}

// writeShareFiles writes one file per share into dir, never replacing a
// file; on failure it removes the files it wrote, so no partial set stays.
func writeShareFiles(dir, header string, shares []keys.KeyShare) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var files []string
	for _, s := range shares {
		name := filepath.Join(dir, fmt.Sprintf("gshare-share-%s-%d-of-%d.txt", s.Split, s.Index, s.Of))
		body := fmt.Sprintf("%s# Share %d of %d: for one sealed envelope.\n%s\n", header, s.Index, s.Of, s)
		err := writeNew(name, []byte(body))
		if err != nil {
			for _, f := range files {
				os.Remove(f)
			}
			return nil, err
		}
		files = append(files, name)
	}
	return files, nil
}

// writeNew creates name with mode 0600, refusing to replace a file.
func writeNew(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

func keyJoinCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("gshare keys join", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(flags.Output(), joinUsage)
		flags.PrintDefaults()
	}
	t := flags.Int("threshold", 0, "refuse shares whose threshold is not this (from the ceremony record)")
	toStdout := flags.Bool("stdout", false, "print the key (64 hex digits) to standard output instead of writing a file")
	keyFile := flags.String("master-key-file", "", "write the key to this file (default: where gshare serve reads it)")
	configFile := flags.String("config", os.Getenv("GSHARE_CONFIG"), "the server's configuration file (GSHARE_CONFIG)")
	data := flags.String("data", "", "the server's data directory (default: as gshare serve: GSHARE_DATA, the configuration, ./gshare-data)")
	if len(args) > 0 && isHelp(args[0]) {
		flags.SetOutput(stdout)
		flags.Usage()
		return nil
	}
	files, err := parseInterspersed(flags, args)
	if err != nil {
		return err
	}
	if *toStdout && *keyFile != "" {
		return usageError{"--stdout and --master-key-file: choose one"}
	}
	// Where the key goes is settled before any share is asked for.
	var dest string
	inData := false // dest is DATA/master.key: DATA may be made, as gshare serve would
	if !*toStdout {
		src, err := keySource(*configFile, *data, *keyFile, stderr)
		if err != nil {
			return err
		}
		if src.Command != "" {
			return errors.New("the server reads its master key from master_key_command (a key service): " +
				"join with --stdout and put the key back into that service, or name a file with --master-key-file")
		}
		dest, inData = keys.MasterFile(src), src.File == ""
		if abs, err := filepath.Abs(dest); err == nil {
			dest = abs
		}
	}
	var shares []keys.KeyShare
	tty, isTTY := ttyOf(stdin)
	switch {
	case len(files) > 0:
		for _, name := range files {
			got, err := readShareFile(name, stdin)
			if err != nil {
				return err
			}
			shares = append(shares, got...)
		}
	case isTTY:
		if shares, err = promptShares(ctx, tty, stderr, *t); err != nil {
			return err
		}
	default:
		if shares, err = keys.ReadShares(stdin); err != nil {
			return fmt.Errorf("standard input: %w", err)
		}
	}
	if *t != 0 && len(shares) > 0 && shares[0].Threshold != *t {
		return fmt.Errorf("%s says %d shares are needed, --threshold says %d: these are not the shares of that ceremony",
			shares[0].Name(), shares[0].Threshold, *t)
	}
	j, err := keys.JoinMaster(shares)
	if err != nil {
		return err
	}
	for _, m := range j.Misfits {
		fmt.Fprintf(stderr, "warning: share %d-of-%d does not fit the others: its envelope was altered or mixed up; split the key again\n", m, shares[0].Of)
	}
	done := fmt.Sprintf("master key %s recovered from shares %s of split %s", j.Fingerprint, joinInts(j.Used), shares[0].Split)
	if *toStdout {
		fmt.Fprintln(stderr, done)
		_, err := fmt.Fprintf(stdout, "%x\n", j.Key[:])
		return err
	}
	return installKey(dest, inData, j, done, stdout)
}

// installKey writes the recovered key to dest, unless a file is there:
// the same key is fine; another is never replaced. With mkdir, the
// directory (the data directory) is made, mode 0700, if missing; a
// master_key_file's directory (another mount) must exist.
func installKey(dest string, mkdir bool, j keys.Joined, done string, stdout io.Writer) error {
	if mkdir {
		if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
			return err
		}
	}
	err := keys.WriteMasterFile(dest, j.Key)
	if errors.Is(err, fs.ErrExist) {
		have, rerr := keys.ReadMaster(context.Background(), keys.Source{File: dest})
		switch {
		case rerr != nil:
			return fmt.Errorf("%s exists and cannot be read as a master key (%v); move it away, then join again", dest, rerr)
		case have == j.Key:
			fmt.Fprintf(stdout, "%s; %s already holds it, nothing written\n", done, dest)
			return nil
		}
		return fmt.Errorf("%s exists and holds another master key (fingerprint %s), never replaced. "+
			"If a server started without its key, it made that new one: move the file away, then join again", dest, keys.Fingerprint(have))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s; written to %s (mode 0600)\n", done, dest)
	fmt.Fprintln(stdout, "Start the server; it checks the key against its data before it writes anything.")
	return nil
}

func readShareFile(name string, stdin io.Reader) ([]keys.KeyShare, error) {
	if name == "-" {
		s, err := keys.ReadShares(stdin)
		if err != nil {
			return nil, fmt.Errorf("standard input: %w", err)
		}
		return s, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := keys.ReadShares(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// ttyOf returns r as a terminal, if it is one.
func ttyOf(r io.Reader) (*os.File, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, false
	}
	fi, err := f.Stat()
	return f, err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// promptShares asks at a terminal for one share after another, without
// echo, until the threshold the first share names is reached. A share that
// is mistyped or does not belong with the others is refused at once, and
// asked for again.
func promptShares(ctx context.Context, tty *os.File, stderr io.Writer, want int) ([]keys.KeyShare, error) {
	restore := noEcho(tty)
	defer restore()
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReader(tty)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				readErr <- err
				return
			}
			lines <- l
		}
	}()
	fmt.Fprintln(stderr, "Type or paste one share a line (it is not shown). An empty line stops.")
	var shares []keys.KeyShare
	for len(shares) == 0 || len(shares) < shares[0].Threshold {
		fmt.Fprintf(stderr, "share %d: ", len(shares)+1)
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr)
			return nil, ctx.Err()
		case err := <-readErr:
			fmt.Fprintln(stderr)
			if errors.Is(err, io.EOF) {
				return shares, nil // JoinMaster says how many more
			}
			return nil, err
		case line = <-lines:
		}
		fmt.Fprintln(stderr)
		line = strings.TrimSpace(line)
		if line == "" {
			return shares, nil
		}
		if strings.HasPrefix(line, "#") {
			continue // the header of a share file, pasted with it
		}
		s, err := keys.ParseShare(line)
		if err == nil && want != 0 && s.Threshold != want {
			err = fmt.Errorf("%s says %d shares are needed, --threshold says %d", s.Name(), s.Threshold, want)
		}
		if err == nil {
			err = keys.CheckShares(append(shares[:len(shares):len(shares)], s))
		}
		if err != nil {
			fmt.Fprintf(stderr, "  not accepted: %v\n", err)
			continue
		}
		shares = append(shares, s)
		if left := s.Threshold - len(shares); left > 0 {
			fmt.Fprintf(stderr, "  %s of key %s accepted; %d more needed\n", s.Name(), s.Fingerprint, left)
		} else {
			fmt.Fprintf(stderr, "  %s of key %s accepted\n", s.Name(), s.Fingerprint)
		}
	}
	return shares, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
