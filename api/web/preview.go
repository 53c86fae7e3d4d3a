package web

import (
	"path"
	"strconv"
	"strings"
)

// Previews (docs/web.md#previews): the folder list offers "Preview" for
// the kinds the app can show, and images in it carry a small thumbnail.
// The dialog itself is static/preview.js.

// previewKinds maps a lower-case extension to the kind of preview the
// web app shows: "image" (a thumbnail made by the server), "pdf" (pages
// drawn by PDF.js from the download) or "text" (the first 64 KiB of the
// download).
var previewKinds = map[string]string{
	".jpg": "image", ".jpeg": "image", ".png": "image", ".gif": "image", ".webp": "image",
	".pdf": "pdf",
	".txt": "text", ".md": "text", ".csv": "text", ".json": "text", ".log": "text",
}

// PreviewKind is the kind of preview of a file, "" when there is none.
func (e Entry) PreviewKind() string {
	if e.Folder {
		return ""
	}
	return previewKinds[strings.ToLower(path.Ext(e.Name))]
}

// ThumbURL is the URL of a file's small thumbnail, for an image; the
// version in it makes the URL change with the picture.
func (e Entry) ThumbURL() string {
	if e.PreviewKind() != "image" {
		return ""
	}
	rest, ok := strings.CutPrefix(e.URL, "/api/v1/files/")
	if !ok {
		return ""
	}
	u := "/api/v1/thumbnails/" + rest
	if e.Version > 0 {
		u += "?version=" + strconv.FormatInt(e.Version, 10)
	}
	return u
}
