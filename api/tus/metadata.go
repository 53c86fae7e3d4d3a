package tus

import (
	"errors"
	"strings"

	"gshare/api/router"
	"gshare/storage/docpath"
)

// Upload-Metadata keys that say where an upload goes. G-Share's own
// clients send the whole destination in "path". A stock tus client
// (tus-js-client, Uppy) names the file in "filename" (Uppy also in
// "name", and the folders of a file from a dropped folder in
// "relativePath"), and the page that configures it adds "folder". Other
// keys are kept with the upload and not read here: "filetype" and "type"
// (the content type, which G-Share does not store), "sha256" and
// "if_match" (storage/uploads), "mtime" (the modification time).
const (
	mdPath         = "path"
	mdFolder       = "folder"
	mdFilename     = "filename"
	mdName         = "name"
	mdRelativePath = "relativePath"
)

// destination reads where an upload goes from its metadata: "path"
// (/dept/folders/name), or "folder" (/dept/folders, or only the
// department; the leading slash may be left out) with the name in
// "filename", else "name", below the folders of "relativePath" if any
// ("photos/2026/a.jpg" puts the file in folder/photos/2026). Every name is
// checked and normalised to NFC as docpath does for every door. Errors are
// 400s that say which key is wrong and why, never repeating the name.
func destination(md map[string]string) (docpath.Path, error) {
	raw, hasPath := md[mdPath]
	folder, hasFolder := md[mdFolder]
	switch {
	case hasPath && hasFolder:
		return docpath.Path{}, router.BadRequest("ambiguous_destination",
			`Upload-Metadata has both "path" and "folder": send "path" (/dept/folders/name), or "folder" (/dept/folders) with "filename"`)
	case hasPath:
		p, err := docpath.Parse(raw)
		if err != nil {
			return docpath.Path{}, keyError(mdPath, "invalid_path", err)
		}
		if p.IsRoot() {
			return docpath.Path{}, router.BadRequest("invalid_path", `Upload-Metadata "path" names a department: a document path needs a name below it (/dept/folders/name)`)
		}
		return p, nil
	case !hasFolder:
		return docpath.Path{}, router.BadRequest("missing_path",
			`Upload-Metadata needs the destination: "folder" (/dept/folders) with "filename", or "path" (/dept/folders/name)`)
	}
	dir, err := docpath.Parse(folder)
	if err != nil {
		return docpath.Path{}, keyError(mdFolder, "invalid_path", err)
	}
	key := mdFilename
	name, ok := md[mdFilename]
	if !ok {
		key = mdName
		if name, ok = md[mdName]; !ok {
			return docpath.Path{}, router.BadRequest("missing_filename",
				`Upload-Metadata has "folder" but no "filename": name the file (tus-js-client: metadata: {filename: file.name, folder: ...})`)
		}
	}
	if rel, ok := md[mdRelativePath]; ok {
		if i := strings.LastIndex(rel, "/"); i >= 0 {
			for _, elem := range strings.Split(rel[:i], "/") {
				if elem == "" {
					continue
				}
				if dir, err = dir.Join(elem); err != nil {
					return docpath.Path{}, keyError(mdRelativePath, "invalid_path", err)
				}
			}
		}
	}
	p, err := dir.Join(name)
	if err != nil {
		return docpath.Path{}, keyError(key, "invalid_name", err)
	}
	return p, nil
}

// keyError is a 400 naming the metadata key whose value docpath refused,
// with docpath's reason (which never repeats the name).
func keyError(key, code string, err error) error {
	var pe *docpath.Error
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Error()
	if key == mdFilename || key == mdName {
		msg = pe.Reason
		if pe.Elem == 0 && strings.HasPrefix(pe.Reason, "longer than") {
			msg = "the whole path would be " + pe.Reason
		}
	}
	return router.BadRequest(code, `Upload-Metadata "`+key+`": `+msg)
}
