// Package deadline is a value-type deadline for request paths that must answer
// within a time budget: it is checked as work proceeds, costs one monotonic
// clock read per check, allocates nothing and needs no goroutine or timer.
package deadline

import "time"

// Deadline is a point on the monotonic clock. The zero value never expires.
type Deadline struct {
	at time.Time
}

// After returns the deadline d from now.
func After(d time.Duration) Deadline { return At(time.Now().Add(d)) }

// At returns the deadline t. t should carry a monotonic reading (a time from
// time.Now or derived from one), so that wall-clock steps do not move it.
func At(t time.Time) Deadline { return Deadline{at: t} }

// Exceeded reports whether the deadline has passed.
func (d Deadline) Exceeded() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

// ExceededAt reports whether the deadline has passed at now.
func (d Deadline) ExceededAt(now time.Time) bool { return !d.at.IsZero() && !now.Before(d.at) }

// Remaining returns the time left, negative once exceeded, and a very large
// duration for the zero Deadline.
func (d Deadline) Remaining() time.Duration {
	if d.at.IsZero() {
		return 1<<63 - 1
	}
	return time.Until(d.at)
}

// Time returns the instant of the deadline; the zero time for none.
func (d Deadline) Time() time.Time { return d.at }
