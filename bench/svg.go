package bench

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// A small SVG line-plot renderer for the report: linear or log axes, lines,
// shaded bands and horizontal reference lines. Everything is drawn inline;
// the page needs no script and no network.

type plot struct {
	title, xlabel, ylabel string
	x, y                  scale
	lines                 []line
	bands                 [][2]float64 // shaded x ranges, in data units
	refs                  []ref        // horizontal reference lines
}

type scale struct {
	lo, hi float64
	log    bool
	ticks  []tick
}

type tick struct {
	v     float64
	label string
}

type line struct {
	name  string
	color string
	dash  bool
	faint bool
	dots  bool
	pts   [][2]float64
}

type ref struct {
	y     float64
	label string
}

const (
	plotW, plotH                   = 640, 300
	padL, padR, padT, padB         = 64, 16, 28, 44
	innerW, innerH         float64 = plotW - padL - padR, plotH - padT - padB
)

func (s scale) t(v float64) float64 {
	if s.log {
		return math.Log10(v)
	}
	return v
}

// pos maps v to [0, 1] along s.
func (s scale) pos(v float64) float64 {
	lo, hi := s.t(s.lo), s.t(s.hi)
	if hi == lo {
		return 0.5
	}
	return (s.t(v) - lo) / (hi - lo)
}

func (p *plot) px(x float64) float64 { return padL + innerW*p.x.pos(x) }
func (p *plot) py(y float64) float64 { return padT + innerH*(1-p.y.pos(y)) }

// svg renders the plot.
func (p *plot) svg() template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		plotW, plotH, plotW, plotH, html.EscapeString(p.title))
	fmt.Fprintf(&b, `<text class="title" x="%d" y="18">%s</text>`, padL, html.EscapeString(p.title))
	for _, band := range p.bands {
		x0, x1 := p.px(max(band[0], p.x.lo)), p.px(min(band[1], p.x.hi))
		if x1 > x0 {
			fmt.Fprintf(&b, `<rect class="band" x="%.1f" y="%d" width="%.1f" height="%.0f"/>`, x0, padT, x1-x0, innerH)
		}
	}
	for _, t := range p.x.ticks {
		x := p.px(t.v)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%.0f"/>`, x, padT, x, padT+innerH)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, x, padT+innerH+16, html.EscapeString(t.label))
	}
	for _, t := range p.y.ticks {
		y := p.py(t.v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%.0f" y2="%.1f"/>`, padL, y, padL+innerW, y)
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, html.EscapeString(t.label))
	}
	fmt.Fprintf(&b, `<rect class="frame" x="%d" y="%d" width="%.0f" height="%.0f"/>`, padL, padT, innerW, innerH)
	fmt.Fprintf(&b, `<text class="label" x="%.0f" y="%d" text-anchor="middle">%s</text>`, padL+innerW/2, plotH-6, html.EscapeString(p.xlabel))
	fmt.Fprintf(&b, `<text class="label" transform="translate(14 %.0f) rotate(-90)" text-anchor="middle">%s</text>`, padT+innerH/2, html.EscapeString(p.ylabel))
	for _, r := range p.refs {
		if r.y < p.y.lo || r.y > p.y.hi {
			continue
		}
		y := p.py(r.y)
		fmt.Fprintf(&b, `<line class="ref" x1="%d" y1="%.1f" x2="%.0f" y2="%.1f"/>`, padL, y, padL+innerW, y)
		fmt.Fprintf(&b, `<text class="tick" x="%.0f" y="%.1f" text-anchor="end">%s</text>`, padL+innerW-4, y-4, html.EscapeString(r.label))
	}
	for _, l := range p.lines {
		var d strings.Builder
		n := 0
		for _, pt := range l.pts {
			if (p.x.log && pt[0] <= 0) || (p.y.log && pt[1] <= 0) || math.IsNaN(pt[1]) {
				continue
			}
			cmd := "L"
			if n == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f,%.1f ", cmd, p.px(pt[0]), p.py(pt[1]))
			n++
		}
		if n == 0 {
			continue
		}
		class := "series"
		if l.dash {
			class += " dash"
		}
		if l.faint {
			class += " faint"
		}
		fmt.Fprintf(&b, `<path class="%s" data-name="%s" stroke="%s" d="%s"><title>%s</title></path>`,
			class, html.EscapeString(l.name), l.color, strings.TrimSpace(d.String()), html.EscapeString(l.name))
		if l.dots {
			for _, pt := range l.pts {
				if (p.y.log && pt[1] <= 0) || math.IsNaN(pt[1]) {
					continue
				}
				fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, p.px(pt[0]), p.py(pt[1]), l.color)
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// fitLatency returns a log scale covering the positive values of the lines
// along axis (0: x, 1: y), whole decades of microseconds, with ticks at 1, 2
// and 5 times each power of ten labelled as durations (only at the powers of
// ten beyond four decades).
func fitLatency(lines []line, axis int) scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, pt := range l.pts {
			if v := pt[axis]; v > 0 && !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 1000
	}
	s := scale{log: true, lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi)))}
	if s.hi <= s.lo {
		s.hi = s.lo * 10
	}
	for dec := s.lo; dec <= s.hi*1.001; dec *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := dec * m; v <= s.hi*1.001 && (m == 1 || s.hi/s.lo <= 1e4) {
				s.ticks = append(s.ticks, tick{v, fmtUS(v)})
			}
		}
	}
	return s
}

// fitLinear returns a linear scale from zero to a round step above the
// largest value of the lines along axis, with about five ticks.
func fitLinear(lines []line, axis int, label func(float64) string) scale {
	hi := 0.0
	for _, l := range lines {
		for _, pt := range l.pts {
			if !math.IsNaN(pt[axis]) {
				hi = max(hi, pt[axis])
			}
		}
	}
	if hi <= 0 {
		hi = 1
	}
	step := niceStep(hi / 5)
	s := scale{lo: 0, hi: math.Ceil(hi/step) * step}
	for v := 0.0; v <= s.hi+step/2; v += step {
		s.ticks = append(s.ticks, tick{v, label(v)})
	}
	return s
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// percentileScale is the x axis of a latency-by-percentile plot: position
// log10(1/(1-p)), labelled 0%, 90%, 99%, 99.9%, ...
func percentileScale(nines int) scale {
	s := scale{lo: 0, hi: float64(nines)}
	for k := 0; k <= nines; k++ {
		label := "0%"
		if k > 0 {
			label = strconv.FormatFloat(100*(1-math.Pow(10, -float64(k))), 'f', max(0, k-2), 64) + "%"
		}
		s.ticks = append(s.ticks, tick{float64(k), label})
	}
	return s
}

// percentileX is the position of percentile p on percentileScale; the
// maximum (p = 100) goes a tenth of a decade past the point before it.
func percentileX(p, prev float64) float64 {
	if p >= 100 {
		return prev + 0.1
	}
	return math.Log10(1 / (1 - p/100))
}
