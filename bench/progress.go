package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows how far a phase of known size has got: a bar redrawn in
// place four times a second on a terminal, a plain line every five seconds
// elsewhere (a log file, CI output).
type progress struct {
	w     io.Writer
	name  string
	total int64
	done  atomic.Int64
	start time.Time
	tty   bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startProgress starts showing a phase of total units on w; a nil w shows
// nothing.
func startProgress(w io.Writer, name string, total int64) *progress {
	p := &progress{w: w, name: name, total: total, start: time.Now(), stop: make(chan struct{})}
	if w == nil {
		return p
	}
	p.tty = isTerminal(w)
	every := 5 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw(false)
			}
		}
	})
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) add(n int64) { p.done.Add(n) }

// finish stops the display and draws the final state.
func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
	if p.w != nil {
		p.draw(true)
	}
}

func (p *progress) draw(final bool) {
	done, total := p.done.Load(), max(p.total, 1)
	frac := min(float64(done)/float64(total), 1)
	el := time.Since(p.start)
	rate := float64(done) / max(el.Seconds(), 1e-3)
	tail := ""
	switch {
	case final:
		tail = "in " + el.Round(100*time.Millisecond).String()
	case rate > 0 && done < total:
		tail = "ETA " + time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second).String()
	}
	const width = 30
	bar := strings.Repeat("=", int(frac*width))
	if len(bar) < width {
		bar += ">" + strings.Repeat(" ", width-len(bar)-1)
	}
	line := fmt.Sprintf("%-10s [%s] %3.0f%%  %s/%s  %s/s  %s", p.name, bar, 100*frac, commas(done), commas(p.total), commas(int64(rate)), tail)
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r%-100s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r%-100s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}
