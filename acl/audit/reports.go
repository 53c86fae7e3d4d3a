package audit

import (
	"sort"
	"strconv"
	"time"
)

// Office hours for the unusual-activity report, in Lao time (UTC+7, no
// daylight saving).
var laoTime = time.FixedZone("ICT", 7*3600)

const (
	officeStart = 6
	officeEnd   = 20
)

// DayRow is one day of a department's activity.
type DayRow struct {
	Day       string `json:"day"` // YYYY-MM-DD, Lao time
	Uploads   int    `json:"uploads"`
	Downloads int    `json:"downloads"`
	BytesIn   int64  `json:"bytes_in"`
	BytesOut  int64  `json:"bytes_out"`
	Users     int    `json:"users"` // distinct
	Denied    int    `json:"denied"`
	// Previews are image previews served (file.preview allowed): reads
	// of a document's picture, not downloads of it.
	Previews int `json:"previews"`
}

func isDownload(a string) bool { return a == "file.read" || a == "share.download" }

// isPreview reports whether an action served a preview made by the
// server (a thumbnail). PDF and text previews are file.read.
func isPreview(a string) bool { return a == "file.preview" }

// isUpload reports whether an action brings document bytes in: a PUT
// (REST or WebDAV), a tus creation with data, a tus PATCH.
func isUpload(a string) bool { return a == "file.write" || a == "upload.create" || a == "upload.write" }

// committed reports whether an upload entry made a new version. A PUT
// that succeeded did; a tus request did when it completed its upload,
// which its entry records as the version (its other PATCHes carry only
// the bytes they stored).
func committed(s Stored) bool {
	return s.Version > 0 || s.Action == "file.write" && s.Result == Allowed
}

// Summary counts a department's activity per day. Counts are of what
// happened, not of requests: uploads are new versions written (a tus
// upload counts once, however many PATCHes it took); downloads are
// complete ones; bytes in are the bytes stored, by every request that
// stored some (an interrupted PATCH keeps what arrived before the cut, and
// each byte is counted by the one request that stored it, never again at
// completion); bytes out are the bytes sent, a download cut short
// included.
func Summary(entries []Stored) []DayRow {
	rows := map[string]*DayRow{}
	users := map[string]map[string]bool{}
	for _, s := range entries {
		day := s.Time.In(laoTime).Format("2006-01-02")
		r := rows[day]
		if r == nil {
			r = &DayRow{Day: day}
			rows[day], users[day] = r, map[string]bool{}
		}
		if s.User != "" {
			users[day][s.User] = true
		}
		switch {
		case s.Result == Denied:
			r.Denied++
		case isUpload(s.Action):
			r.BytesIn += s.Bytes
			if committed(s) {
				r.Uploads++
			}
		case isPreview(s.Action):
			if s.Result == Allowed {
				r.Previews++
			}
		case isDownload(s.Action):
			r.BytesOut += s.Bytes
			if s.Result == Allowed {
				r.Downloads++
			}
		}
	}
	out := make([]DayRow, 0, len(rows))
	for day, r := range rows {
		r.Users = len(users[day])
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out
}

// Finding is one piece of unusual activity.
type Finding struct {
	User   string `json:"user"`
	Day    string `json:"day"`
	Kind   string `json:"kind"` // volume, denied, hours
	Detail string `json:"detail"`
	Value  int64  `json:"value"`
}

// Unusual looks for downloads far above a user's usual daily volume (over
// three times their median day, and at least 10 MiB), many refusals in a
// day (10 or more), and logins outside office hours.
func Unusual(entries []Stored) []Finding {
	type key struct{ user, day string }
	volume := map[key]int64{}
	denied := map[key]int{}
	var out []Finding
	for _, s := range entries {
		if s.User == "" {
			continue
		}
		local := s.Time.In(laoTime)
		k := key{s.User, local.Format("2006-01-02")}
		switch {
		case s.Result == Denied:
			denied[k]++
		case isDownload(s.Action):
			volume[k] += s.Bytes // bytes sent, a download cut short included
		}
		if s.Action == "login" && s.Result == Allowed && (local.Hour() < officeStart || local.Hour() >= officeEnd) {
			out = append(out, Finding{User: s.User, Day: k.day, Kind: "hours",
				Detail: "signed in at " + local.Format("15:04") + " (office hours 06:00–20:00)", Value: int64(local.Hour())})
		}
	}
	days := map[string][]int64{}
	for k, v := range volume {
		days[k.user] = append(days[k.user], v)
	}
	for k, v := range volume {
		med := median(days[k.user])
		if len(days[k.user]) >= 3 && v >= 10<<20 && v > 3*med {
			out = append(out, Finding{User: k.user, Day: k.day, Kind: "volume",
				Detail: "downloaded " + mib(v) + " against a usual day of " + mib(med), Value: v})
		}
	}
	for k, n := range denied {
		if n >= 10 {
			out = append(out, Finding{User: k.user, Day: k.day, Kind: "denied", Detail: "refused requests", Value: int64(n)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func median(v []int64) int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func mib(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
