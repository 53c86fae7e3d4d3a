package docstore

// BuffersInUse returns how many part buffers writes hold.
func BuffersInUse(s *Store) int {
	s.bufs.mu.Lock()
	defer s.bufs.mu.Unlock()
	return s.bufs.inUse
}
