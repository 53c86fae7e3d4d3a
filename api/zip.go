package api

import (
	"archive/zip"
	"errors"
	"fmt"
	"gshare/api/router"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// Limits of one zip download (docs/web.md, "Downloading several files").
const (
	// zipMaxFiles bounds the files and folders in one zip.
	zipMaxFiles = 10_000
	// zipMaxPaths bounds the paths one request names.
	zipMaxPaths = 10_000
	// zipDefaultMaxBytes bounds a zip's documents when the server has no
	// upload size limit; with one, the zip is bounded by it.
	zipDefaultMaxBytes = 16 << 30
)

// zipMember is one entry of a zip: a folder (file nil) or a file's current
// version.
type zipMember struct {
	name string // in the zip: NFC, "/"-separated, folders end in "/"
	path docpath.Path
	node meta.Node
	file *docstore.File
}

// zipRequest is the body of POST /api/v1/zip: JSON {"paths": [...]}, or
// an HTML form with one "path" field per document (the web app posts a
// form, so the browser saves the stream itself).
func readZipPaths(w http.ResponseWriter, r *http.Request) ([]string, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, router.MaxJSON)
		if err := r.ParseForm(); err != nil {
			return nil, router.BadRequest("bad_form", "the form could not be read")
		}
		return r.PostForm["path"], nil
	}
	var in struct {
		Paths []string `json:"paths"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return nil, err
	}
	return in.Paths, nil
}

// zipDownload streams a zip of the files and folders named (with
// everything below the folders). Every document must be readable by the
// user: one that is not refuses the whole request (403, naming it in the
// audit entry), so a zip never silently lacks what was asked for. The
// members are decrypted on the fly through docstore.Open, as downloads
// are, and written with archive/zip (names in UTF-8, NFC, with the UTF-8
// flag); nothing is staged on disk. Each document is audited as a
// file.read of this request. A document failing its integrity check after
// the headers were sent cuts the connection: the zip has no central
// directory, and no unzip takes it for complete.
func (s *Server) zipDownload(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	raw, err := readZipPaths(w, r)
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return router.BadRequest("no_paths", "name at least one file or folder to download")
	}
	if len(raw) > zipMaxPaths {
		return router.BadRequest("zip_too_many", fmt.Sprintf("a zip holds at most %d files and folders", zipMaxFiles))
	}
	maxBytes := int64(zipDefaultMaxBytes)
	if s.o.MaxUploadSize > 0 {
		maxBytes = s.o.MaxUploadSize
	}
	var members []zipMember
	var total int64
	used := map[string]bool{}
	for _, q := range raw {
		p, err := docpath.Parse(q)
		if err != nil {
			return err
		}
		if p.IsRoot() {
			return router.BadRequest("invalid_path", "name files or folders below the department, not a department")
		}
		// Read is decided before the lookup, so what the user may not
		// read is refused the same whether it exists or not; a folder then
		// needs read on everything below it.
		if err := rq.Authorize(p, acl.ActRead); err != nil {
			rq.Path = p // the audit entry names the document refused
			return err
		}
		n, err := s.d.Docs.Lookup(p)
		if err != nil {
			rq.Path = p
			return err
		}
		if n.Dir {
			if err := rq.AuthorizeAll(p, acl.ActRead); err != nil {
				rq.Path = p
				return err
			}
		}
		base := uniqueName(used, norm.NFC.String(p.Base()))
		if err := s.zipCollect(p, n, base, &members, &total); err != nil {
			return err
		}
		if len(members) > zipMaxFiles {
			return router.BadRequest("zip_too_many", fmt.Sprintf("a zip holds at most %d files and folders", zipMaxFiles))
		}
		if total > maxBytes {
			return router.BadRequest("zip_too_large", fmt.Sprintf("a zip holds at most %d bytes of documents", maxBytes))
		}
	}
	// The first document is opened before the headers, so a failure there
	// is an error status, not a cut.
	first := -1
	for i, m := range members {
		if m.file != nil {
			first = i
			break
		}
	}
	var rc io.ReadCloser
	if first >= 0 {
		v := members[first].file.Version
		if rc, err = s.d.Docs.Open(r.Context(), v, 0, v.Size); err != nil {
			return err
		}
	}
	name := "gshare.zip"
	if len(raw) == 1 {
		name = members[0].name
		name = strings.TrimSuffix(name, "/") + ".zip"
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.WriteHeader(http.StatusOK)
	zw := zip.NewWriter(w)
	for i, m := range members {
		hdr := &zip.FileHeader{Name: m.name, Method: zip.Store}
		if m.file == nil {
			hdr.Modified = m.node.ModTime()
			if _, err := zw.CreateHeader(hdr); err != nil {
				s.abortAfterHeaders(rq, fmt.Errorf("%w: %w", errClientGone, err))
			}
			continue
		}
		v := m.file.Version
		hdr.Modified = v.Modified()
		hdr.UncompressedSize64 = uint64(v.Size)
		if i != first {
			if rc, err = s.d.Docs.Open(r.Context(), v, 0, v.Size); err != nil {
				s.zipMemberAudit(rq, m, 0, err)
				s.abortAfterHeaders(rq, err)
			}
		}
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			rc.Close()
			s.abortAfterHeaders(rq, fmt.Errorf("%w: %w", errClientGone, err))
		}
		written, err := copyOut(fw, rc, v.Size)
		rc.Close()
		rq.Entry.Bytes += written
		s.zipMemberAudit(rq, m, written, err)
		if err != nil {
			s.abortAfterHeaders(rq, err)
		}
	}
	if err := zw.Close(); err != nil {
		s.abortAfterHeaders(rq, fmt.Errorf("%w: %w", errClientGone, err))
	}
	return nil
}

// zipCollect adds the node n at p to the zip as name, with everything
// below it for a folder.
func (s *Server) zipCollect(p docpath.Path, n meta.Node, name string, out *[]zipMember, total *int64) error {
	if !n.Dir {
		f, err := s.d.Docs.Stat(p, 0)
		if err != nil {
			return err
		}
		*out = append(*out, zipMember{name: name, path: p, node: n, file: &f})
		*total += f.Version.Size
		return nil
	}
	*out = append(*out, zipMember{name: name + "/", path: p, node: n})
	if len(*out) > zipMaxFiles {
		return router.BadRequest("zip_too_many", fmt.Sprintf("a zip holds at most %d files and folders", zipMaxFiles))
	}
	_, kids, err := s.d.Docs.List(p)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := s.zipCollect(p.Child(k.Name), k, name+"/"+norm.NFC.String(k.Name), out, total); err != nil {
			return err
		}
	}
	return nil
}

// uniqueName keeps the top-level names of a zip distinct: a second
// "a.pdf" (from another folder) becomes "a (2).pdf".
func uniqueName(used map[string]bool, name string) string {
	out := name
	ext := path.Ext(name)
	for i := 2; used[out]; i++ {
		out = strings.TrimSuffix(name, ext) + " (" + strconv.Itoa(i) + ")" + ext
	}
	used[out] = true
	return out
}

// zipMemberAudit records a document of a zip as a read of its own, in the
// request's name: reports count it as the download it is.
func (s *Server) zipMemberAudit(rq *router.Request, m zipMember, written int64, err error) {
	e := audit.Entry{Time: s.o.Now().UTC(), RequestID: rq.ID, User: rq.User.Username, Addr: rq.Addr,
		Dept: m.path.Dept, Action: "file.read", Path: m.path.String(), Object: m.file.Node.ID.String(),
		Version: m.file.Version.Number, Bytes: written, Result: audit.Allowed, Status: http.StatusOK}
	if err != nil {
		status, code, _ := router.Response(err)
		if errors.Is(err, errClientGone) {
			code = "canceled"
		}
		e.Result, e.Reason, e.Status = audit.Error, code, status
	}
	s.d.Audit.Record(e)
}
