package deadline

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	start := time.Now()
	d := At(start.Add(10 * time.Millisecond))
	tests := []struct {
		now  time.Time
		want bool
	}{
		{start, false},
		{start.Add(9 * time.Millisecond), false},
		{start.Add(10 * time.Millisecond), true},
		{start.Add(time.Second), true},
	}
	for _, tt := range tests {
		if got := d.ExceededAt(tt.now); got != tt.want {
			t.Errorf("ExceededAt(start+%v) = %v, want %v", tt.now.Sub(start), got, tt.want)
		}
	}
	if got := After(-time.Millisecond).Exceeded(); !got {
		t.Errorf("After(-1ms).Exceeded() = false, want true")
	}
	var zero Deadline
	if zero.Exceeded() || zero.ExceededAt(start.Add(1000*time.Hour)) {
		t.Errorf("zero Deadline expired, want never")
	}
	if zero.Remaining() <= 0 {
		t.Errorf("zero Deadline Remaining() = %v, want positive", zero.Remaining())
	}
}

func TestDeadlineAllocs(t *testing.T) {
	d := After(time.Hour)
	if n := testing.AllocsPerRun(100, func() { _ = d.Exceeded() }); n != 0 {
		t.Errorf("Exceeded allocates %v times, want 0", n)
	}
}
