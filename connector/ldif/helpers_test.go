package ldif

import (
	"bytes"
	"context"
)

// fromBytes is New over data held in memory.
func fromBytes(data []byte, cfg Config) (*Connector, error) {
	return New(context.Background(), bytes.NewReader(data), cfg)
}
