package auth

// Len is the number of keys the throttle remembers.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

// HoldSlots takes every password slot and returns the function that gives
// them back.
func (m *Manager) HoldSlots() (release func()) {
	var frees []func()
	for range cap(m.slots) {
		frees = append(frees, m.slot())
	}
	return func() {
		for _, f := range frees {
			f()
		}
	}
}
