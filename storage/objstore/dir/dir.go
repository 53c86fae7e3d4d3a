// Package dir is an object store in a local directory: G-Share's embedded
// default, used when no S3 endpoint is configured.
//
// An object with key "v1/ab/ab12…" is the file ROOT/v1/ab/ab12…. Every
// write goes to a temporary file under ROOT/.tmp, is synced, and is renamed
// into place (then the directory is synced), so a crash never leaves a
// partial object under its key. Multipart uploads keep their parts under
// ROOT/.multipart/<id>/; completing one concatenates the parts (with
// copy_file_range where the kernel offers it) into a temporary file that is
// renamed into place. Clean removes temporary files and abandoned
// multipart uploads left by a crash.
//
// Everything stored here is already ciphertext.
package dir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gshare/storage/objstore"
)

// Store is a directory object store.
type Store struct {
	root string
}

var (
	_ objstore.MultipartStore = (*Store)(nil)
	_ objstore.Pinger         = (*Store)(nil)
)

const (
	tmpDir       = ".tmp"
	multipartDir = ".multipart"
)

// New returns a store rooted at root, creating it (mode 0700) if needed.
func New(root string) (*Store, error) {
	for _, d := range []string{root, filepath.Join(root, tmpDir), filepath.Join(root, multipartDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("objstore/dir: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// validKey rejects keys that could escape the root or collide with the
// store's own directories.
func validKey(key string) error {
	if key == "" || len(key) > 1024 || key[0] == '/' || key[0] == '.' || strings.HasSuffix(key, "/") {
		return fmt.Errorf("objstore/dir: invalid key %q", key)
	}
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("objstore/dir: invalid key %q", key)
		}
	}
	for _, e := range strings.Split(key, "/") {
		if e == "" || e == "." || e == ".." || e[0] == '.' {
			return fmt.Errorf("objstore/dir: invalid key %q", key)
		}
	}
	return nil
}

func (s *Store) path(key string) string { return filepath.Join(s.root, filepath.FromSlash(key)) }

func notExist(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore/dir: %s %s: %w", op, key, objstore.ErrNotExist)
	}
	return fmt.Errorf("objstore/dir: %s %s: %w", op, key, err)
}

// writeTemp copies size bytes of r into a synced temporary file and returns
// its name.
func (s *Store) writeTemp(ctx context.Context, r io.Reader, size int64) (string, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "put-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: io.LimitReader(r, size)})
	if err == nil && n < size {
		err = fmt.Errorf("%d of %d bytes: %w", n, size, objstore.ErrShortBody)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// install renames a temporary file to key and syncs the directory, so the
// rename survives a crash.
func (s *Store) install(tmp, key string) error {
	dst := s.path(key)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := validKey(key); err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, r, size)
	if err != nil {
		return fmt.Errorf("objstore/dir: put %s: %w", key, err)
	}
	if err := s.install(tmp, key); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("objstore/dir: put %s: %w", key, err)
	}
	return nil
}

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string, off, n int64) (*objstore.Reader, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, notExist("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, notExist("get", key, err)
	}
	size := fi.Size()
	if off < 0 || off > size || off == size && size > 0 && n != 0 {
		f.Close()
		return nil, fmt.Errorf("objstore/dir: get %s: offset %d of %d: %w", key, off, size, objstore.ErrInvalidRange)
	}
	if n < 0 || off+n > size {
		n = size - off
	}
	return &objstore.Reader{ReadCloser: &sectionFile{SectionReader: io.NewSectionReader(f, off, n), f: f}, Size: size}, nil
}

type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionFile) Close() error { return s.f.Close() }

// Stat implements objstore.Store.
func (s *Store) Stat(ctx context.Context, key string) (objstore.Info, error) {
	if err := validKey(key); err != nil {
		return objstore.Info{}, err
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		return objstore.Info{}, notExist("stat", key, err)
	}
	return objstore.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore/dir: delete %s: %w", key, err)
	}
	return nil
}

// List implements objstore.Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(objstore.Info) error) error {
	var infos []objstore.Info
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // deleted meanwhile
		}
		infos = append(infos, objstore.Info{Key: rel, Size: fi.Size(), ModTime: fi.ModTime()})
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("objstore/dir: list %s: %w", prefix, err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, in := range infos {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// Ping implements objstore.Pinger: the root must be a writable directory.
func (s *Store) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "ping-*")
	if err != nil {
		return fmt.Errorf("objstore/dir: %w: %w", objstore.ErrUnavailable, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func (s *Store) uploadDir(id string) (string, error) {
	if len(id) != 32 {
		return "", fmt.Errorf("objstore/dir: multipart upload %q: %w", id, objstore.ErrNotExist)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", fmt.Errorf("objstore/dir: multipart upload %q: %w", id, objstore.ErrNotExist)
	}
	return filepath.Join(s.root, multipartDir, id), nil
}

// CreateMultipart implements objstore.Multipart.
func (s *Store) CreateMultipart(ctx context.Context, key string) (string, error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	d, _ := s.uploadDir(id)
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", fmt.Errorf("objstore/dir: create multipart %s: %w", key, err)
	}
	if err := os.WriteFile(filepath.Join(d, "key"), []byte(key), 0o600); err != nil {
		os.RemoveAll(d)
		return "", fmt.Errorf("objstore/dir: create multipart %s: %w", key, err)
	}
	return id, nil
}

// checkUpload verifies that id is an upload for key.
func (s *Store) checkUpload(key, id string) (string, error) {
	d, err := s.uploadDir(id)
	if err != nil {
		return "", err
	}
	k, err := os.ReadFile(filepath.Join(d, "key"))
	if err != nil || string(k) != key {
		return "", fmt.Errorf("objstore/dir: multipart upload %s of %s: %w", id, key, objstore.ErrNotExist)
	}
	return d, nil
}

// PutPart implements objstore.Multipart. The ETag is the part's size and
// write time, enough to tell a replaced part from the one listed.
func (s *Store) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (objstore.Part, error) {
	if n < 1 || n > objstore.MaxParts {
		return objstore.Part{}, fmt.Errorf("objstore/dir: part number %d out of range", n)
	}
	d, err := s.checkUpload(key, id)
	if err != nil {
		return objstore.Part{}, err
	}
	tmp, err := s.writeTemp(ctx, r, size)
	if err != nil {
		return objstore.Part{}, fmt.Errorf("objstore/dir: put part %d of %s: %w", n, key, err)
	}
	name := filepath.Join(d, fmt.Sprintf("%05d", n))
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return objstore.Part{}, fmt.Errorf("objstore/dir: put part %d of %s: %w", n, key, err)
	}
	if err := syncDir(d); err != nil {
		return objstore.Part{}, fmt.Errorf("objstore/dir: put part %d of %s: %w", n, key, err)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return objstore.Part{}, fmt.Errorf("objstore/dir: put part %d of %s: %w", n, key, err)
	}
	return objstore.Part{Number: n, ETag: partETag(fi), Size: fi.Size()}, nil
}

func partETag(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16)
}

// CompleteMultipart implements objstore.Multipart.
func (s *Store) CompleteMultipart(ctx context.Context, key, id string, parts []objstore.Part) error {
	d, err := s.checkUpload(key, id)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("objstore/dir: complete %s: no parts", key)
	}
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "complete-*")
	if err != nil {
		return fmt.Errorf("objstore/dir: complete %s: %w", key, err)
	}
	tmp := f.Name()
	err = func() error {
		for i, p := range parts {
			if i > 0 && p.Number <= parts[i-1].Number {
				return fmt.Errorf("parts out of order")
			}
			pf, err := os.Open(filepath.Join(d, fmt.Sprintf("%05d", p.Number)))
			if err != nil {
				return fmt.Errorf("part %d: %w", p.Number, objstore.ErrNotExist)
			}
			fi, err := pf.Stat()
			if err == nil && (partETag(fi) != p.ETag || i < len(parts)-1 && fi.Size() < objstore.MinPartSize) {
				err = fmt.Errorf("part %d changed or too small", p.Number)
			}
			if err == nil {
				_, err = io.Copy(f, pf) // copy_file_range between files
			}
			pf.Close()
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.install(tmp, key)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("objstore/dir: complete %s: %w", key, err)
	}
	return os.RemoveAll(d)
}

// AbortMultipart implements objstore.Multipart.
func (s *Store) AbortMultipart(ctx context.Context, key, id string) error {
	d, err := s.checkUpload(key, id)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.RemoveAll(d); err != nil {
		return fmt.Errorf("objstore/dir: abort %s: %w", key, err)
	}
	return nil
}

// Clean removes temporary files older than tmpAge and multipart uploads
// untouched for longer than uploadAge: the leftovers of a crash. Pass the
// upload expiry (or more) as uploadAge, so a paused upload keeps its parts.
func (s *Store) Clean(tmpAge, uploadAge time.Duration) (int, error) {
	n := 0
	for sub, age := range map[string]time.Duration{tmpDir: tmpAge, multipartDir: uploadAge} {
		cutoff := time.Now().Add(-age)
		ents, err := os.ReadDir(filepath.Join(s.root, sub))
		if err != nil {
			return n, fmt.Errorf("objstore/dir: clean: %w", err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil || fi.ModTime().After(cutoff) {
				continue
			}
			if err := os.RemoveAll(filepath.Join(s.root, sub, e.Name())); err == nil {
				n++
			}
		}
	}
	return n, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
