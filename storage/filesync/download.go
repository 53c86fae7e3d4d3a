package filesync

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gshare/api/client"
	"gshare/storage/filesync/feed"
	"gshare/storage/filesync/state"
)

// Downloads resume. A file comes down into a partial file in the state's
// own folder (Client.partDir, next to the state file, ".gshare-sync-partial"
// by default: hidden, and never synced), recorded in the state with the
// SHA-256, size and version it is a part of. When a transfer is cut (the
// link drops, the laptop sleeps, the process is killed), the next attempt
// asks only for the rest: Range from the partial's length, with If-Range
// naming the version's ETag (its SHA-256), so that if the document has
// changed meanwhile the server sends the new one whole and the partial
// is started again. The whole file is checked against the SHA-256 before
// it replaces anything.
//
// No partial outlives its use: it is renamed into place on success,
// removed when its bytes fail the check, and at the start of each pass
// partials of documents that changed or vanished on the server, and files
// in the partial folder that no record names, are removed.

// tmpPrefix starts the temporary files an older gshare downloaded into,
// next to their destination; the scan removes any it finds.
const tmpPrefix = feed.StatePrefix + "tmp-"

// errChanged means the server's document is not the one the pass meant
// to download: the next pass sees the change through the feed.
var errChanged = errors.New("changed on the server while downloading; will try again")

// partName is the partial file of a key: fixed, so a record and its file
// always agree, and free of the key's characters.
func partName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12]) + ".part"
}

// download fetches the server's file at key, whose entry is r, into file.
func (c *Client) download(ctx context.Context, key, file string, r state.RemoteEntry) error {
	rec, ok := c.st.Download(key)
	if ok && (rec.SHA256 != r.SHA256 || rec.Size != r.Size) {
		if err := c.dropPartial(key, rec); err != nil {
			return err
		}
		ok = false
	}
	if !ok {
		rec = state.PartialDownload{File: partName(key), SHA256: r.SHA256, Version: r.Version, Size: r.Size}
		// Recorded before the file exists: a file no record names is
		// removed by the next sweep.
		if err := c.st.SetDownload(key, &rec); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.partDir, 0o700); err != nil {
		return err
	}
	part := filepath.Join(c.partDir, rec.File)
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	have, err := f.Seek(0, io.SeekEnd)
	if err == nil && (have > rec.Size || have > 0 && rec.SHA256 == "") {
		have, err = 0, f.Truncate(0)
	}
	if err == nil && have > 0 {
		_, err = io.Copy(h, io.NewSectionReader(f, 0, have))
	}
	if err == nil && have < rec.Size {
		err = c.fetch(ctx, key, f, h, have, rec)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && rec.SHA256 != "" && hex.EncodeToString(h.Sum(nil)) != rec.SHA256 {
		err = errChanged
	}
	if errors.Is(err, errChanged) {
		// Those bytes are of no use: start afresh next time.
		if derr := c.dropPartial(key, rec); derr != nil {
			return derr
		}
		return err
	}
	if err != nil {
		return err // the partial stays, for the next attempt to resume
	}
	// The file carries the document's modification time, not the
	// download's: the one its author gave it (mtime), or when the server
	// stored it.
	if t := orElse(r.MTime, r.Modified); t != 0 {
		mt := time.Unix(0, t)
		if err := os.Chtimes(part, mt, mt); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := place(part, file); err != nil {
		return err
	}
	os.Remove(c.partDir) // when empty
	return c.st.SetDownload(key, nil)
}

// fetch appends the rest of the document to f (holding have bytes, hashed
// into h): a Range request with If-Range when some bytes are there, and
// the whole document again when the server sends it whole.
func (c *Client) fetch(ctx context.Context, key string, f *os.File, h hash.Hash, have int64, rec state.PartialDownload) error {
	o := &client.GetOptions{}
	if have > 0 {
		o.Offset, o.IfRange = have, rec.SHA256
	}
	d, err := c.api.Get(ctx, c.remotePath(key), o)
	if err != nil {
		if client.IsStatus(err, http.StatusRequestedRangeNotSatisfiable) {
			return errChanged // shorter now than the bytes already here
		}
		return check(err)
	}
	defer d.Body.Close()
	if rec.SHA256 != "" && d.SHA256 != "" && d.SHA256 != rec.SHA256 {
		return errChanged // not the version wanted: do not fetch it
	}
	if d.Offset != have {
		// The server sent the whole document (it ignored the range, or
		// If-Range found another version): start the partial again.
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		h.Reset()
		have = 0
	}
	m := c.meter("↓", key, d.Size, have)
	_, err = io.Copy(io.MultiWriter(f, h, m), d.Body)
	m.end()
	return err
}

// orElse returns a when it is not zero, else b.
func orElse(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// place renames a finished download into place. The partial folder may be
// on another file system than the synced one (a state file kept
// elsewhere): then it is copied next to its destination first, so the
// destination still changes in one rename.
func place(part, file string) error {
	err := os.Rename(part, file)
	var le *os.LinkError
	if err == nil || !errors.As(err, &le) {
		return err
	}
	var b [6]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(file), tmpPrefix+hex.EncodeToString(b[:]))
	if err := copyFile(part, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(part)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(to, fi.ModTime(), fi.ModTime())
	}
	return err
}

// dropPartial removes a partial download and its record.
func (c *Client) dropPartial(key string, rec state.PartialDownload) error {
	if err := os.Remove(filepath.Join(c.partDir, rec.File)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(c.partDir) // when empty
	return c.st.SetDownload(key, nil)
}

// sweepPartials removes the partials that can no longer be resumed: of
// documents that changed (another SHA-256) or vanished on the server, and
// files in the partial folder that no record names.
func (c *Client) sweepPartials(remote map[string]state.RemoteEntry) error {
	recs, err := c.st.Downloads()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for k, rec := range recs {
		if r, ok := remote[k]; ok && !r.Dir && r.SHA256 == rec.SHA256 && r.Size == rec.Size && rec.File == partName(k) {
			keep[rec.File] = true
			continue
		}
		if err := c.dropPartial(k, rec); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(c.partDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !keep[e.Name()] && !e.IsDir() && strings.HasSuffix(e.Name(), ".part") {
			os.Remove(filepath.Join(c.partDir, e.Name()))
		}
	}
	os.Remove(c.partDir) // when empty
	return nil
}
