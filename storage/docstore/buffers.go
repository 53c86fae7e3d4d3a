package docstore

import (
	"sync"

	"gshare/storage/crypt"
)

// partBuffers hands out the plaintext buffers of parts being written.
//
// They live outside the Go heap where the system allows it (buffers_unix.go):
// a write holds up to three 8 MiB buffers (window), and on the heap the
// collector lets the heap grow to twice what is live before it runs, so
// those 24 MiB cost 48 and more of resident memory during an upload
// (docs/benchmarks.md).
// Buffers are never unmapped, only recycled: a transport that still reads
// a failed part's body after PutPart returned must not fault. When no
// write holds a buffer, the idle ones give their pages back to the system.
//
// The contents of a buffer are not cleared between uses: an idle buffer
// keeps the plaintext of its last part until a write reuses it, or until
// no write holds any buffer and the idle ones give their pages back
// (releasePages; on systems without it, until reused). Plaintext in a
// buffer never leaves the process.
type partBuffers struct {
	mu    sync.Mutex
	idle  []*[]byte // of crypt.DefaultPartSize
	inUse int       // buffers of crypt.DefaultPartSize handed out
}

// get returns a buffer of size bytes.
func (p *partBuffers) get(size int64) *[]byte {
	if size != crypt.DefaultPartSize {
		b := make([]byte, size) // parts of files beyond 78 GiB: rare
		return &b
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse++
	if n := len(p.idle); n > 0 {
		b := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return b
	}
	b := allocPart(int(size))
	return &b
}

// put takes back a buffer from get.
func (p *partBuffers) put(b *[]byte) {
	if b == nil || len(*b) != crypt.DefaultPartSize {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse--
	p.idle = append(p.idle, b)
	if p.inUse == 0 {
		for _, b := range p.idle {
			releasePages(*b)
		}
	}
}
