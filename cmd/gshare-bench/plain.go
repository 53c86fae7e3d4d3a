package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"gshare/api/client"
)

// plainSize is the file of the plain-client rounds: large enough that a
// transfer is not its requests' latency, small enough for five rounds.
const plainSize = 256 * mib

// plain measures as a user sees it from outside, with curl (one request
// per transfer: tus is its creation POST and one PATCH of the whole file),
// in rounds that alternate between MinIO directly, tusd and G-Share, so
// drift over the run (page cache, MinIO's state) falls on each alike.
func (b *bench) plain(ctx context.Context) error {
	if _, err := exec.LookPath("curl"); err != nil {
		return fmt.Errorf("curl not found (apt-get install curl): %w", err)
	}
	rounds := 5
	if b.o.quick {
		rounds = 2
	}
	td, tusdURL, err := b.startTusd("tusd-curl")
	if err != nil {
		return err
	}
	defer td.stop()
	g, err := b.startGShare("gshare-curl", b.s3Env("gshare-curl")...)
	if err != nil {
		return err
	}
	defer g.stop()
	file := b.files[plainSize]
	minio := "http://" + b.minioAddr
	sigv4 := []string{"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", minioUser + ":" + minioSecret}
	bearer := []string{"-H", "Authorization: Bearer " + g.token}
	md, _ := client.EncodeMetadata(map[string]string{client.MetaPath: "/bench/curl/file.bin"})
	type transfer struct {
		id, label string
		fn        func() (float64, error) // seconds
	}
	var tusdLoc string
	ups := []transfer{
		{"curl.ceiling.put", "curl PUT to MinIO", func() (float64, error) {
			return curl(ctx, append(sigv4, "-o", "/dev/null", "-T", file, minio+"/ceiling/curl")...)
		}},
		{"curl.tusd.upload", "curl tus upload to tusd", func() (sec float64, err error) {
			tusdLoc, sec, err = curlTus(ctx, tusdURL, "/files/", file, nil)
			return sec, err
		}},
		{"curl.s3.upload", "curl tus upload to G-Share", func() (float64, error) {
			_, sec, err := curlTus(ctx, g.url, "/api/v1/uploads/", file, append([]string{"-H", "Upload-Metadata: " + md}, bearer...))
			return sec, err
		}},
		{"curl.s3.put", "curl PUT to G-Share", func() (float64, error) {
			return curl(ctx, append(bearer, "-o", "/dev/null", "-T", file, g.url+"/api/v1/files/bench/curl/put.bin")...)
		}},
	}
	downs := []transfer{
		{"curl.ceiling.get", "curl GET from MinIO", func() (float64, error) {
			return curl(ctx, append(sigv4, "-o", "/dev/null", minio+"/ceiling/curl")...)
		}},
		{"curl.tusd.download", "curl GET from tusd", func() (float64, error) {
			return curl(ctx, "-o", "/dev/null", tusdURL+tusdLoc)
		}},
		{"curl.s3.download", "curl GET from G-Share", func() (float64, error) {
			return curl(ctx, append(bearer, "-o", "/dev/null", g.url+"/api/v1/files/bench/curl/file.bin")...)
		}},
	}
	runs := map[string]stats{}
	for r := range rounds {
		for _, set := range [][]transfer{ups, downs} {
			for _, t := range set {
				sec, err := t.fn()
				if err != nil {
					return fmt.Errorf("%s, round %d: %w", t.label, r+1, err)
				}
				runs[t.id] = append(runs[t.id], float64(plainSize)/mib/sec)
			}
		}
		b.logf("curl round %d of %d done", r+1, rounds)
	}
	for _, t := range append(ups, downs...) {
		b.res.add(Throughput{ID: t.id, Label: t.label, Size: plainSize, Runs: runs[t.id]})
		b.logf("%-44s %8s  %8.1f MB/s (spread %.1f)", t.label, human(plainSize), runs[t.id].median(), runs[t.id].spread())
	}
	return nil
}

// curl runs curl with args, failing on an HTTP error, and returns the
// time it reports for the transfer.
func curl(ctx context.Context, args ...string) (float64, error) {
	out, err := curlOut(ctx, append([]string{"-w", "%{time_total}"}, args...)...)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

func curlOut(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--fail-with-body"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("curl %s: %w: %s%s", strings.Join(args[len(args)-1:], " "), err, out, stderr.Bytes())
	}
	return out, nil
}

// curlTus uploads file with tus: a creation POST, then one PATCH of the
// whole file. It returns the upload's path and the two requests' time.
func curlTus(ctx context.Context, base, uploads, file string, extra []string) (string, float64, error) {
	size, err := fileSize(file)
	if err != nil {
		return "", 0, err
	}
	args := append([]string{"-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: " + strconv.FormatInt(size, 10),
		"-o", "/dev/null", "-w", "%{time_total} %header{location}"}, extra...)
	out, err := curlOut(ctx, append(args, base+uploads)...)
	if err != nil {
		return "", 0, err
	}
	t, loc, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	create, perr := strconv.ParseFloat(t, 64)
	if !ok || perr != nil || loc == "" {
		return "", 0, fmt.Errorf("tus creation at %s answered %q", base, out)
	}
	if loc, err = locationPath(loc); err != nil {
		return "", 0, fmt.Errorf("tus creation at %s: %w", base, err)
	}
	sec, err := curl(ctx, append([]string{"-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
		"-H", "Content-Type: application/offset+octet-stream", "-o", "/dev/null", "-T", file}, append(extra, base+loc)...)...)
	return loc, create + sec, err
}

// locationPath is the path of a tus Location, absolute or not.
func locationPath(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(u.EscapedPath(), "/") {
		return "", fmt.Errorf("the tus Location %q has no path", loc)
	}
	return u.EscapedPath(), nil
}

func fileSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
