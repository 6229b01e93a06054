package dirsync

// SetLogSegment sets how many entries one store key of a run's log holds,
// so tests cross segments with few changes, and returns the undo.
func SetLogSegment(n int) (restore func()) {
	old := logSegment
	logSegment = n
	return func() { logSegment = old }
}
