package nextcloud

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"

	"gshare/api/router"
)

// statusJSON is status.php's answer, field for field as Nextcloud's.
type statusJSON struct {
	Installed       bool   `json:"installed"`
	Maintenance     bool   `json:"maintenance"`
	NeedsDbUpgrade  bool   `json:"needsDbUpgrade"`
	Version         string `json:"version"`
	VersionString   string `json:"versionstring"`
	Edition         string `json:"edition"`
	ProductName     string `json:"productname"`
	ExtendedSupport bool   `json:"extendedSupport"`
}

func (e *Edge) status(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	router.WriteJSON(w, http.StatusOK, statusJSON{Installed: true, Version: Version.Full, VersionString: Version.String,
		ProductName: ProductName})
	return nil
}

// capabilities tells the apps what G-Share speaks: chunked upload v2
// ("dav": {"chunking": "1.0"}), SHA-256 checksums (the apps send
// OC-Checksum: SHA256:… with uploads), and no sharing API, comments,
// versions or trash over OCS (the apps hide those features).
func (e *Edge) capabilities(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	caps := obj{
		"core": obj{"pollinterval": 60, "webdav-root": strings.TrimPrefix(WebDAVPath, "/")},
		// The apps wait this long after a failed sign-in; G-Share's
		// back-off answers 429 with Retry-After instead.
		"bruteforce": obj{"delay": 0},
		"dav":        obj{"chunking": "1.0"},
		"files": obj{"bigfilechunking": true, "comments": false, "undelete": false, "versioning": false,
			"versiondeletion": false},
		"checksums": obj{"supportedTypes": []any{"SHA256"}, "preferredUploadType": "SHA256"},
		"files_sharing": obj{"api_enabled": false, "resharing": false, "group_sharing": false,
			"public": obj{"enabled": false}, "sharebymail": obj{"enabled": false}, "user": obj{"send_mail": false}},
		"theming": obj{"name": ProductName, "url": "", "slogan": "", "color": "#1d4e89", "color-text": "#ffffff",
			"color-element": "#1d4e89"},
	}
	return e.ocs(w, r, obj{
		"version": obj{"major": Version.Major, "minor": Version.Minor, "micro": Version.Micro, "string": Version.String,
			"edition": "", "extendedSupport": false},
		"capabilities": caps,
	})
}

// errOCSAPIRequest refuses an OCS request that a browser session signed
// in without the OCS-APIRequest header, as Nextcloud does: a page of
// another site cannot set it, so it cannot read the answer through the
// user's cookie.
var errOCSAPIRequest = &router.Error{Status: http.StatusUnauthorized, Code: "ocs_api_request",
	Msg: "OCS requests signed in with a browser session need the header OCS-APIRequest: true"}

// user describes the signed-in user as the apps read it: id (the WebDAV
// user of /remote.php/dav/files/{id}/) and display-name.
func (e *Edge) user(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.ViaCookie && !strings.EqualFold(strings.TrimSpace(r.Header.Get("OCS-APIRequest")), "true") {
		return errOCSAPIRequest
	}
	u := rq.User
	name := cmp.Or(u.Name, u.Username)
	return e.ocs(w, r, obj{
		"id": u.Username, "enabled": !u.Disabled, "display-name": name, "displayname": name, "email": nil,
		// Unlimited: G-Share sets no per-user quota.
		"quota":               obj{"quota": -3, "relative": 0},
		"backend":             ProductName,
		"backendCapabilities": obj{"setDisplayName": false, "setPassword": false},
	})
}

// obj is a JSON object of an OCS answer.
type obj = map[string]any

// ocs answers data in the OCS envelope of the request's API version: v1
// says statuscode 100, v2 200; both answer HTTP 200. JSON when the client
// asks (?format=json, or Accept: application/json and no format), XML
// otherwise, as Nextcloud.
func (e *Edge) ocs(w http.ResponseWriter, r *http.Request, data any) error {
	code := 100
	if strings.HasPrefix(r.URL.Path, "/ocs/v2.php/") {
		code = 200
	}
	asJSON := false
	switch f := r.URL.Query().Get("format"); f {
	case "json":
		asJSON = true
	case "xml":
	case "":
		asJSON = acceptsJSON(r.Header.Get("Accept"))
	default:
		return router.BadRequest("bad_format", "format is json or xml")
	}
	env := obj{"meta": obj{"status": "ok", "statuscode": code, "message": "OK", "totalitems": "", "itemsperpage": ""}, "data": data}
	if asJSON {
		router.WriteJSON(w, http.StatusOK, obj{"ocs": env})
		return nil
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	writeXML(&b, "ocs", env)
	b.WriteByte('\n')
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b.Bytes())
	return err
}

// acceptsJSON reports whether an Accept header asks for JSON.
func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == "application/json" {
			return true
		}
	}
	return false
}

// writeXML writes v as Nextcloud's OCS XML does: objects as elements in
// key order, list items as <element>, true as 1 and false as nothing (PHP's
// string forms), null as an empty element.
func writeXML(b *bytes.Buffer, name string, v any) {
	b.WriteString("<" + name + ">")
	switch v := v.(type) {
	case obj:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			writeXML(b, k, v[k])
		}
	case []any:
		for _, item := range v {
			writeXML(b, "element", item)
		}
	case bool:
		if v {
			b.WriteString("1")
		}
	case nil:
	case string:
		xml.EscapeText(b, []byte(v))
	default:
		xml.EscapeText(b, []byte(fmt.Sprint(v)))
	}
	b.WriteString("</" + name + ">")
}
