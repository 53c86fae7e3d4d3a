// Package s3 is an object store on any S3-compatible service (MinIO, Ceph
// RGW, AWS), through minio-go.
//
// minio-go is hidden behind minioAPI, the handful of calls this package
// makes, so the rest of G-Share never sees it. Objects are written with
// single PUTs and explicit multipart uploads whose sizes G-Share computes,
// so minio-go never buffers a part on its own.
//
// # Failures
//
// Network errors, timeouts and 5xx answers are reported as
// objstore.ErrUnavailable. minio-go's own retries are kept low (Options.
// MaxRetries) so that "S3 is down" reaches the client as a 503 within
// seconds instead of after minutes of backoff.
package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"gshare/storage/objstore"
)

// Options configure Open.
type Options struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string // created if missing
	TLS       bool   // HTTPS to the endpoint
	// MaxRetries bounds minio-go's retries of a failed request; default 3.
	MaxRetries int
	// Timeout bounds connecting and waiting for response headers; default
	// 30 seconds (dialling: 5 seconds).
	Timeout time.Duration
	// SignedPayloads signs every payload with SHA-256 (minio-go's
	// streaming signature over plain HTTP) instead of sending it unsigned
	// with a CRC32C trailing checksum. The hash was half the CPU of an
	// upload (docs/benchmarks.md) and buys nothing here: the payload is
	// ciphertext authenticated by G-Share's AEAD, and the CRC32C, which
	// the server verifies before it stores a byte, catches corruption on
	// the way. Set it for S3 services without trailing-checksum support.
	SignedPayloads bool
}

// minioAPI lists the minio-go calls this package makes (minio.Core
// implements it).
type minioAPI interface {
	PutObject(ctx context.Context, bucket, object string, data io.Reader, size int64, md5Base64, sha256Hex string, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	GetObject(ctx context.Context, bucket, object string, opts minio.GetObjectOptions) (io.ReadCloser, minio.ObjectInfo, http.Header, error)
	StatObject(ctx context.Context, bucket, object string, opts minio.StatObjectOptions) (minio.ObjectInfo, error)
	RemoveObject(ctx context.Context, bucket, object string, opts minio.RemoveObjectOptions) error
	ListObjectsV2(bucket, prefix, startAfter, continuationToken, delimiter string, maxKeys int) (minio.ListBucketV2Result, error)
	BucketExists(ctx context.Context, bucket string) (bool, error)
	MakeBucket(ctx context.Context, bucket string, opts minio.MakeBucketOptions) error
	NewMultipartUpload(ctx context.Context, bucket, object string, opts minio.PutObjectOptions) (string, error)
	PutObjectPart(ctx context.Context, bucket, object, uploadID string, partID int, data io.Reader, size int64, opts minio.PutObjectPartOptions) (minio.ObjectPart, error)
	CompleteMultipartUpload(ctx context.Context, bucket, object, uploadID string, parts []minio.CompletePart, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, object, uploadID string) error
}

// Store is an S3 object store.
type Store struct {
	api    minioAPI
	bucket string
	signed bool // see Options.SignedPayloads
}

var (
	_ objstore.MultipartStore = (*Store)(nil)
	_ objstore.Pinger         = (*Store)(nil)
)

// Open connects to the endpoint and creates the bucket if it is missing.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = o.Timeout
	tr.MaxIdleConnsPerHost = 64
	// Objects are ciphertext: compression would only cost CPU.
	tr.DisableCompression = true
	core, err := minio.NewCore(o.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS,
		Region: o.Region, Transport: tr, MaxRetries: o.MaxRetries,
		// Lets Put send a CRC32C trailer with an unsigned payload.
		TrailingHeaders: !o.SignedPayloads,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore/s3: %w", err)
	}
	s := &Store{api: core, bucket: o.Bucket, signed: o.SignedPayloads}
	ok, err := core.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, s.wrap("bucket", o.Bucket, err)
	}
	if !ok {
		if err := core.MakeBucket(ctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, s.wrap("create bucket", o.Bucket, err)
			}
		}
	}
	return s, nil
}

// wrap maps a minio-go error to objstore's errors.
func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("objstore/s3: %s %s: %w", op, key, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		// S3 did not answer within Options.Timeout (net/http's header
		// timeout also reports itself as DeadlineExceeded): unavailable.
		return fmt.Errorf("objstore/s3: %s %s: timed out: %w: %w", op, key, objstore.ErrUnavailable, err)
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.Code == "NoSuchUpload" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		return fmt.Errorf("objstore/s3: %s %s: %w", op, key, objstore.ErrNotExist)
	case resp.Code == "InvalidRange" || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("objstore/s3: %s %s: %w", op, key, objstore.ErrInvalidRange)
	case resp.StatusCode == http.StatusInsufficientStorage || resp.Code == "XMinioStorageFull":
		// Not "unavailable": retrying soon will not help, an operator
		// must make room.
		return fmt.Errorf("objstore/s3: %s %s: %w: %w", op, key, objstore.ErrFull, err)
	case resp.StatusCode >= 500 || resp.StatusCode == 0 || resp.Code == "NoSuchBucket" || resp.StatusCode == http.StatusForbidden:
		// Network failures (no HTTP answer), server errors, a vanished
		// bucket or rejected credentials: the store is not usable now.
		return fmt.Errorf("objstore/s3: %s %s: %w: %w", op, key, objstore.ErrUnavailable, err)
	}
	return fmt.Errorf("objstore/s3: %s %s: %w", op, key, err)
}

// countingReader tells a short body (ErrShortBody) from a failed store:
// the body is short when it reached EOF before size bytes.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// crcTrailer computes the CRC32C of what is read through it and sets it
// as the x-amz-checksum-crc32c trailer at EOF, as minio-go does for the
// objects it uploads itself.
type crcTrailer struct {
	r       io.Reader
	h       hash.Hash32
	trailer http.Header
}

const crcTrailerKey = "x-amz-checksum-crc32c"

func newCRCTrailer(r io.Reader, trailer http.Header) *crcTrailer {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	trailer.Set(crcTrailerKey, base64.StdEncoding.EncodeToString(h.Sum(nil)))
	return &crcTrailer{r: r, h: h, trailer: trailer}
}

func (c *crcTrailer) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		c.trailer.Set(crcTrailerKey, base64.StdEncoding.EncodeToString(c.h.Sum(nil)))
	}
	return n, err
}

func (s *Store) short(op, key string, cr *countingReader, size int64, err error) error {
	if cr.eof && cr.n < size {
		return fmt.Errorf("objstore/s3: %s %s: %d of %d bytes: %w", op, key, cr.n, size, objstore.ErrShortBody)
	}
	return s.wrap(op, key, err)
}

// fence passes reads through until it is closed, and close waits for a
// read in progress. net/http's Transport may go on reading a request body
// after the call that sent it has returned (when S3 answers before the
// body is sent: 507, 403); the bodies given to Put and PutPart read from a
// client's request and from pooled buffers, which belong to others again
// once Put returns. close may wait for a read from a slow client in
// progress; that is the price of never touching the body afterwards.
type fence struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

var errFenced = errors.New("objstore/s3: body read after the request ended")

func (f *fence) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errFenced
	}
	return f.r.Read(p)
}

func (f *fence) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	cr := &countingReader{r: io.LimitReader(r, size)}
	body := &fence{r: cr}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: !s.signed}
	_, err := s.api.PutObject(ctx, s.bucket, key, body, size, "", "", opts)
	body.close()
	if err != nil {
		return s.short("put", key, cr, size, err)
	}
	return nil
}

// Get implements objstore.Store.
func (s *Store) Get(ctx context.Context, key string, off, n int64) (*objstore.Reader, error) {
	if off < 0 {
		return nil, fmt.Errorf("objstore/s3: get %s: offset %d: %w", key, off, objstore.ErrInvalidRange)
	}
	if n == 0 {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if off > info.Size {
			return nil, fmt.Errorf("objstore/s3: get %s: offset %d of %d: %w", key, off, info.Size, objstore.ErrInvalidRange)
		}
		return &objstore.Reader{ReadCloser: io.NopCloser(strings.NewReader("")), Size: info.Size}, nil
	}
	var opts minio.GetObjectOptions
	switch {
	case off == 0 && n < 0:
	case n < 0:
		opts.SetRange(off, 0)
	default:
		opts.SetRange(off, off+n-1)
	}
	body, info, h, err := s.api.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	size := info.Size
	if cr := h.Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if total, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				size = total
			}
		}
	}
	return &objstore.Reader{ReadCloser: &bodyReader{rc: body, s: s, key: key}, Size: size}, nil
}

// bodyReader maps errors of a body cut off mid-way (S3 restarted) to
// ErrUnavailable.
type bodyReader struct {
	rc  io.ReadCloser
	s   *Store
	key string
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("objstore/s3: read %s: %w: %w", b.key, objstore.ErrUnavailable, err)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// Stat implements objstore.Store.
func (s *Store) Stat(ctx context.Context, key string) (objstore.Info, error) {
	info, err := s.api.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objstore.Info{}, s.wrap("stat", key, err)
	}
	return objstore.Info{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.api.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(s.wrap("delete", key, err), objstore.ErrNotExist) {
		return s.wrap("delete", key, err)
	}
	return nil
}

// List implements objstore.Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(objstore.Info) error) error {
	token := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := s.api.ListObjectsV2(s.bucket, prefix, "", token, "", 1000)
		if err != nil {
			return s.wrap("list", prefix, err)
		}
		for _, o := range res.Contents {
			if err := fn(objstore.Info{Key: o.Key, Size: o.Size, ModTime: o.LastModified}); err != nil {
				return err
			}
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			return nil
		}
		token = res.NextContinuationToken
	}
}

// Ping implements objstore.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ok, err := s.api.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objstore/s3: ping: %w: %w", objstore.ErrUnavailable, err)
	}
	if !ok {
		return fmt.Errorf("objstore/s3: bucket %s is gone: %w", s.bucket, objstore.ErrUnavailable)
	}
	return nil
}

// CreateMultipart implements objstore.Multipart.
func (s *Store) CreateMultipart(ctx context.Context, key string) (string, error) {
	id, err := s.api.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	return id, s.wrap("create multipart", key, err)
}

// PutPart implements objstore.Multipart.
func (s *Store) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (objstore.Part, error) {
	cr := &countingReader{r: io.LimitReader(r, size)}
	opts := minio.PutObjectPartOptions{DisableContentSha256: !s.signed}
	var body io.Reader = cr
	if !s.signed {
		// minio-go adds no checksum to a part on its own: send CRC32C as
		// a trailer, filled in when the body has been read to its end.
		opts.Trailer = http.Header{}
		body = newCRCTrailer(cr, opts.Trailer)
	}
	f := &fence{r: body}
	p, err := s.api.PutObjectPart(ctx, s.bucket, key, id, n, f, size, opts)
	f.close()
	if err != nil {
		return objstore.Part{}, s.short("put part", key, cr, size, err)
	}
	return objstore.Part{Number: n, ETag: p.ETag, Size: size}, nil
}

// CompleteMultipart implements objstore.Multipart.
func (s *Store) CompleteMultipart(ctx context.Context, key, id string, parts []objstore.Part) error {
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	_, err := s.api.CompleteMultipartUpload(ctx, s.bucket, key, id, cp, minio.PutObjectOptions{})
	return s.wrap("complete multipart", key, err)
}

// AbortMultipart implements objstore.Multipart.
func (s *Store) AbortMultipart(ctx context.Context, key, id string) error {
	err := s.api.AbortMultipartUpload(ctx, s.bucket, key, id)
	if err != nil && errors.Is(s.wrap("abort", key, err), objstore.ErrNotExist) {
		return nil
	}
	return s.wrap("abort multipart", key, err)
}
