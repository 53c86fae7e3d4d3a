package s3

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
)

// PutPartWrongCRC uploads data as PutPart does, but with a CRC32C trailer
// that does not match it, as if a byte had changed on the way.
func (s *Store) PutPartWrongCRC(ctx context.Context, key, id string, n int, data []byte) error {
	opts := minio.PutObjectPartOptions{DisableContentSha256: true, Trailer: http.Header{}}
	body := &wrongCRC{newCRCTrailer(bytes.NewReader(data), opts.Trailer)}
	_, err := s.api.PutObjectPart(ctx, s.bucket, key, id, n, body, int64(len(data)), opts)
	return err
}

type wrongCRC struct{ *crcTrailer }

func (w wrongCRC) Read(p []byte) (int, error) {
	n, err := w.crcTrailer.Read(p)
	if err == io.EOF {
		w.trailer.Set(crcTrailerKey, "AAAAAA==")
	}
	return n, err
}
