package boltkv

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked means another process (a running server) holds the file.
var ErrLocked = errors.New("boltkv: the file is in use by another process")

// OpenFile opens (creating if needed) the bbolt file at path, waiting at
// most timeout for another process to release it: for tools outside
// storage/meta (gshare meta migrate), which need not import bbolt.
func OpenFile(path string, timeout time.Duration) (*Store, error) {
	s, err := Open(path, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	return s, err
}
