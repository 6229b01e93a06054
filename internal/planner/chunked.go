package planner

// chunked collects a sequence of unknown length without the repeated
// copying of append: for large slices append grows by a quarter at a time,
// which for a million accounts allocates several times the final size.
// Values go into fixed-size chunks and are copied once into an exact slice.
type chunked[T any] struct {
	full []([]T)
	cur  []T
	n    int
}

const chunkSize = 4096

func (c *chunked[T]) add(v T) {
	if c.cur == nil {
		c.cur = make([]T, 0, chunkSize)
	}
	c.cur = append(c.cur, v)
	c.n++
	if len(c.cur) == chunkSize {
		c.full = append(c.full, c.cur)
		c.cur = nil
	}
}

func (c *chunked[T]) len() int { return c.n }

// slice returns the values in order and empties c.
func (c *chunked[T]) slice() []T {
	if len(c.full) == 0 {
		out := c.cur
		*c = chunked[T]{}
		return out
	}
	return c.appendTo(make([]T, 0, c.n))
}

// appendTo appends the values to dst in order and empties c.
func (c *chunked[T]) appendTo(dst []T) []T {
	for i, ch := range c.full {
		dst = append(dst, ch...)
		c.full[i] = nil // let the chunk go as soon as it is copied
	}
	dst = append(dst, c.cur...)
	*c = chunked[T]{}
	return dst
}
