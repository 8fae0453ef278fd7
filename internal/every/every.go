// Package every runs background work on a ticker.
package every

import (
	"context"
	"time"
)

// Tick calls f every d until ctx ends; it returns then, never during f.
func Tick(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
