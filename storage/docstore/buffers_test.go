package docstore

import (
	"runtime"
	"testing"

	"gshare/storage/crypt"
)

// TestPartBuffers: buffers are recycled while writes hold some, and an
// idle set gives its pages back (they read as zeros) once none is held.
func TestPartBuffers(t *testing.T) {
	var p partBuffers
	a, b := p.get(crypt.DefaultPartSize), p.get(crypt.DefaultPartSize)
	if len(*a) != crypt.DefaultPartSize || len(*b) != crypt.DefaultPartSize || &(*a)[0] == &(*b)[0] {
		t.Fatal("two buffers held at once share memory, or have the wrong size")
	}
	(*a)[0], (*b)[0] = 'a', 'b'
	p.put(a)
	if c := p.get(crypt.DefaultPartSize); c != a || (*c)[0] != 'a' {
		t.Fatal("an idle buffer was not reused while another was held")
	} else {
		p.put(c)
	}
	p.put(b)
	if p.inUse != 0 || len(p.idle) != 2 {
		t.Fatalf("in use %d, idle %d", p.inUse, len(p.idle))
	}
	if runtime.GOOS == "linux" {
		for _, x := range p.idle {
			if (*x)[0] != 0 {
				t.Fatal("an idle buffer kept its pages once no write held one")
			}
		}
	}
	odd := p.get(crypt.DefaultPartSize + crypt.SegmentSize)
	if len(*odd) != crypt.DefaultPartSize+crypt.SegmentSize {
		t.Fatal("a buffer of another size has the wrong size")
	}
	p.put(odd)
	if p.inUse != 0 || len(p.idle) != 2 {
		t.Fatalf("a buffer of another size joined the set: in use %d, idle %d", p.inUse, len(p.idle))
	}
}
