package audience

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tailor-dev/tailor/features"
)

// Subject is what an expression is evaluated against: one user at one time.
type Subject struct {
	Profile    *features.Profile
	Indicators *features.Indicators
	Scores     features.Scores
}

// Expr is a parsed audience expression.
type Expr struct {
	src  string
	root node
}

// String returns the expression's source text.
func (e *Expr) String() string { return e.src }

// Match reports whether s satisfies the expression.
func (e *Expr) Match(s *Subject) bool { return e.root.eval(s).b }

// SyntaxError describes what is wrong with an expression and where.
type SyntaxError struct {
	Pos int // byte offset into the expression
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("at %d: %s", e.Pos, e.Msg) }

// kind is the type of a value.
type kind uint8

const (
	kBool kind = iota + 1
	kNum
	kStr
)

func (k kind) String() string {
	switch k {
	case kBool:
		return "a boolean"
	case kNum:
		return "a number"
	}
	return "a string"
}

type value struct {
	b bool
	n float64
	s string
}

type node interface {
	eval(*Subject) value
	kind() kind
}

// Fields and functions an expression may use.
type field struct {
	k   kind
	get func(*Subject) value
}

var fields = map[string]field{
	"lifecycle":      {kStr, func(s *Subject) value { return value{s: s.Indicators.Lifecycle} }},
	"value_tier":     {kStr, func(s *Subject) value { return value{s: s.Scores.Tier} }},
	"r":              {kNum, func(s *Subject) value { return value{n: float64(s.Scores.R)} }},
	"f":              {kNum, func(s *Subject) value { return value{n: float64(s.Scores.F)} }},
	"m":              {kNum, func(s *Subject) value { return value{n: float64(s.Scores.M)} }},
	"recency_days":   {kNum, func(s *Subject) value { return value{n: s.Indicators.RecencyDays} }},
	"frequency":      {kNum, func(s *Subject) value { return value{n: float64(s.Indicators.Frequency)} }},
	"monetary":       {kNum, func(s *Subject) value { return value{n: s.Indicators.Monetary} }},
	"aov":            {kNum, func(s *Subject) value { return value{n: s.Indicators.AOV} }},
	"propensity":     {kNum, func(s *Subject) value { return value{n: s.Indicators.Propensity} }},
	"price_band":     {kStr, func(s *Subject) value { return value{s: s.Indicators.PriceBand} }},
	"price_index":    {kNum, func(s *Subject) value { return value{n: s.Indicators.PriceIndex} }},
	"due_wakeup":     {kBool, func(s *Subject) value { return value{b: s.Indicators.DueWakeup} }},
	"replenish_due":  {kBool, func(s *Subject) value { return value{b: len(s.Indicators.Replenish) > 0} }},
	"active_hour":    {kNum, func(s *Subject) value { return value{n: float64(s.Indicators.ActiveHour)} }},
	"active_channel": {kStr, func(s *Subject) value { return value{s: s.Indicators.ActiveChannel} }},
	"events":         {kNum, func(s *Subject) value { return value{n: float64(s.Profile.Events)} }},
	"purchases":      {kNum, func(s *Subject) value { return value{n: float64(s.Profile.Purchases)} }},
	"tier":           {kNum, func(s *Subject) value { return value{n: float64(s.Profile.Attrs.Tier)} }},
	"region":         {kStr, func(s *Subject) value { return value{s: s.Profile.Attrs.Region} }},
	"country":        {kStr, func(s *Subject) value { return value{s: s.Profile.Attrs.Country} }},
	"age_band":       {kStr, func(s *Subject) value { return value{s: s.Profile.Attrs.AgeBand} }},
	"gender":         {kStr, func(s *Subject) value { return value{s: s.Profile.Attrs.Gender} }},
}

// functions take one string argument.
var functions = map[string]struct {
	k  kind
	fn func(s *Subject, arg string) value
}{
	// interest("Baby/Formula"): the user's interest in a category (or any
	// below it, since every level of a path is weighted), relative to their
	// strongest category: 0 to 1.
	"interest": {kNum, func(s *Subject, arg string) value { return value{n: relative(s.Profile.Categories, arg)} }},
	"brand":    {kNum, func(s *Subject, arg string) value { return value{n: relative(s.Profile.Brands, arg)} }},
	"term":     {kNum, func(s *Subject, arg string) value { return value{n: relative(s.Profile.Terms, arg)} }},
	"label":    {kStr, func(s *Subject, arg string) value { return value{s: s.Profile.Attrs.Label(arg)} }},
	"accepts":  {kBool, func(s *Subject, arg string) value { return value{b: s.Profile.Attrs.Accepts(arg)} }},
	"replenish": {kBool, func(s *Subject, arg string) value {
		for _, r := range s.Indicators.Replenish {
			if r.Key == arg || strings.HasPrefix(r.Key, arg+"/") {
				return value{b: true}
			}
		}
		return value{}
	}},
}

// relative returns list's weight for key over its strongest weight.
func relative(list []features.Weighted, key string) float64 {
	if len(list) == 0 || list[0].Weight <= 0 {
		return 0
	}
	return float64(features.Interest(list, key) / list[0].Weight)
}

// Parse parses an expression.
func Parse(src string) (*Expr, error) {
	if len(src) > 4096 {
		return nil, &SyntaxError{0, "expression is longer than 4096 bytes"}
	}
	p := &parser{src: src}
	p.next()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.t != tEOF {
		return nil, p.errf("unexpected %s", p.tok)
	}
	if n.kind() != kBool {
		return nil, &SyntaxError{0, "expression must be true or false, not " + n.kind().String()}
	}
	return &Expr{src: src, root: n}, nil
}

// Tokens.
type tokType uint8

const (
	tEOF tokType = iota
	tIdent
	tString
	tNumber
	tOp // = != < <= > >=
	tLParen
	tRParen
	tComma
)

type token struct {
	t   tokType
	s   string
	pos int
}

func (t token) String() string {
	switch t.t {
	case tEOF:
		return "end of expression"
	case tString:
		return strconv.Quote(t.s)
	}
	return "'" + t.s + "'"
}

type parser struct {
	src   string
	pos   int
	tok   token
	depth int
	err   *SyntaxError
}

func (p *parser) errf(format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...)}
}

// next reads the next token into p.tok; a lexical error becomes p.err.
func (p *parser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{t: tEOF, pos: start}
		return
	}
	c := p.src[p.pos]
	switch {
	case c == '(':
		p.pos++
		p.tok = token{tLParen, "(", start}
	case c == ')':
		p.pos++
		p.tok = token{tRParen, ")", start}
	case c == ',':
		p.pos++
		p.tok = token{tComma, ",", start}
	case c == '=' || c == '<' || c == '>' || c == '!':
		p.pos++
		if p.pos < len(p.src) && p.src[p.pos] == '=' {
			p.pos++ // <=, >=, != and ==
		}
		op := p.src[start:p.pos]
		if op == "!" {
			p.err = &SyntaxError{start, "'!' must be followed by '='"}
			p.tok = token{t: tEOF, pos: start}
			return
		}
		if op == "==" {
			op = "="
		}
		p.tok = token{tOp, op, start}
	case c == '"' || c == '\'':
		end := strings.IndexByte(p.src[p.pos+1:], c)
		if end < 0 {
			p.err = &SyntaxError{start, "unterminated string"}
			p.tok = token{t: tEOF, pos: start}
			return
		}
		p.tok = token{tString, p.src[p.pos+1 : p.pos+1+end], start}
		p.pos += end + 2
	case c == '-' || c == '.' || c >= '0' && c <= '9':
		p.pos++
		for p.pos < len(p.src) && (p.src[p.pos] == '.' || p.src[p.pos] >= '0' && p.src[p.pos] <= '9') {
			p.pos++
		}
		p.tok = token{tNumber, p.src[start:p.pos], start}
	default:
		r, w := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsLetter(r) && r != '_' {
			p.err = &SyntaxError{start, fmt.Sprintf("unexpected character %q", r)}
			p.tok = token{t: tEOF, pos: start}
			return
		}
		p.pos += w
		for p.pos < len(p.src) {
			r, w := utf8.DecodeRuneInString(p.src[p.pos:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
				break
			}
			p.pos += w
		}
		p.tok = token{tIdent, p.src[start:p.pos], start}
	}
}

func (p *parser) keyword(k string) bool { return p.tok.t == tIdent && strings.EqualFold(p.tok.s, k) }

func (p *parser) or() (node, *SyntaxError) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		if err := p.bools(left, right, "OR"); err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
	return left, p.err
}

func (p *parser) and() (node, *SyntaxError) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		p.next()
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		if err := p.bools(left, right, "AND"); err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
	return left, p.err
}

func (p *parser) bools(a, b node, op string) *SyntaxError {
	if a.kind() != kBool || b.kind() != kBool {
		return p.errf("%s joins conditions, not values", op)
	}
	return nil
}

func (p *parser) unary() (node, *SyntaxError) {
	if p.err != nil {
		return nil, p.err
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 64 {
		return nil, p.errf("expression nests too deeply")
	}
	if p.keyword("not") {
		p.next()
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		if n.kind() != kBool {
			return nil, p.errf("NOT applies to a condition")
		}
		return notNode{n}, nil
	}
	if p.tok.t == tLParen {
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.t != tRParen {
			return nil, p.errf("expected ')', found %s", p.tok)
		}
		p.next()
		return n, p.err
	}
	leftPos := p.tok.pos
	left, err := p.operand(true)
	if err != nil {
		return nil, err
	}
	switch {
	case p.tok.t == tOp:
		op := p.tok
		p.next()
		right, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		return p.compare(op, left, right)
	case p.keyword("in"):
		p.next()
		return p.in(left)
	}
	if left.kind() != kBool {
		return nil, &SyntaxError{leftPos, fmt.Sprintf("%s value must be compared with something", left.kind())}
	}
	return left, p.err
}

// operand parses a field, a function call or a literal. On the right of a
// comparison a bare word that names no field is a string ("lifecycle = at_risk").
func (p *parser) operand(left bool) (node, *SyntaxError) {
	if p.err != nil {
		return nil, p.err
	}
	t := p.tok
	switch t.t {
	case tString:
		p.next()
		return lit{value{s: t.s}, kStr}, p.err
	case tNumber:
		n, err := strconv.ParseFloat(t.s, 64)
		if err != nil {
			return nil, p.errf("bad number %s", t.s)
		}
		p.next()
		return lit{value{n: n}, kNum}, p.err
	case tIdent:
		name := strings.ToLower(t.s)
		p.next()
		if p.tok.t == tLParen {
			return p.call(t, name)
		}
		switch name {
		case "true":
			return lit{value{b: true}, kBool}, p.err
		case "false":
			return lit{value{b: false}, kBool}, p.err
		}
		if f, ok := fields[name]; ok {
			return fieldNode{f}, p.err
		}
		if !left {
			return lit{value{s: t.s}, kStr}, p.err
		}
		return nil, &SyntaxError{t.pos, fmt.Sprintf("unknown field %q", t.s)}
	}
	return nil, p.errf("expected a field, function or value, found %s", t)
}

func (p *parser) call(t token, name string) (node, *SyntaxError) {
	fn, ok := functions[name]
	if !ok {
		return nil, &SyntaxError{t.pos, fmt.Sprintf("unknown function %q", t.s)}
	}
	p.next() // (
	if p.tok.t != tString && p.tok.t != tIdent {
		return nil, p.errf("%s takes one string argument", name)
	}
	arg := p.tok.s
	p.next()
	if p.tok.t != tRParen {
		return nil, p.errf("expected ')' after the argument of %s", name)
	}
	p.next()
	return callNode{fn.k, fn.fn, arg}, p.err
}

func (p *parser) compare(op token, a, b node) (node, *SyntaxError) {
	if a.kind() != b.kind() {
		return nil, &SyntaxError{op.pos, fmt.Sprintf("cannot compare %s with %s", a.kind(), b.kind())}
	}
	if a.kind() != kNum && op.s != "=" && op.s != "!=" {
		return nil, &SyntaxError{op.pos, fmt.Sprintf("%s compares numbers, not %s values", op.s, a.kind())}
	}
	return cmpNode{op: op.s, a: a, b: b}, p.err
}

func (p *parser) in(left node) (node, *SyntaxError) {
	if p.tok.t != tLParen {
		return nil, p.errf("expected '(' after IN")
	}
	p.next()
	var set []node
	for {
		pos := p.tok.pos
		n, err := p.operand(false)
		if err != nil {
			return nil, err
		}
		if n.kind() != left.kind() {
			return nil, &SyntaxError{pos, fmt.Sprintf("IN list holds %s, not %s", n.kind(), left.kind())}
		}
		set = append(set, n)
		if p.tok.t == tComma {
			p.next()
			continue
		}
		if p.tok.t != tRParen {
			return nil, p.errf("expected ',' or ')' in IN list, found %s", p.tok)
		}
		p.next()
		return inNode{left, set}, p.err
	}
}

// Nodes.

type lit struct {
	v value
	k kind
}

func (n lit) eval(*Subject) value { return n.v }
func (n lit) kind() kind          { return n.k }

type fieldNode struct{ f field }

func (n fieldNode) eval(s *Subject) value { return n.f.get(s) }
func (n fieldNode) kind() kind            { return n.f.k }

type callNode struct {
	k   kind
	fn  func(*Subject, string) value
	arg string
}

func (n callNode) eval(s *Subject) value { return n.fn(s, n.arg) }
func (n callNode) kind() kind            { return n.k }

type andNode struct{ a, b node }

func (n andNode) eval(s *Subject) value { return value{b: n.a.eval(s).b && n.b.eval(s).b} }
func (n andNode) kind() kind            { return kBool }

type orNode struct{ a, b node }

func (n orNode) eval(s *Subject) value { return value{b: n.a.eval(s).b || n.b.eval(s).b} }
func (n orNode) kind() kind            { return kBool }

type notNode struct{ a node }

func (n notNode) eval(s *Subject) value { return value{b: !n.a.eval(s).b} }
func (n notNode) kind() kind            { return kBool }

type cmpNode struct {
	op   string
	a, b node
}

func (n cmpNode) kind() kind { return kBool }
func (n cmpNode) eval(s *Subject) value {
	x, y := n.a.eval(s), n.b.eval(s)
	switch n.a.kind() {
	case kStr:
		eq := strings.EqualFold(x.s, y.s)
		return value{b: eq == (n.op == "=")}
	case kBool:
		return value{b: (x.b == y.b) == (n.op == "=")}
	}
	switch n.op {
	case "=":
		return value{b: x.n == y.n}
	case "!=":
		return value{b: x.n != y.n}
	case "<":
		return value{b: x.n < y.n}
	case "<=":
		return value{b: x.n <= y.n}
	case ">":
		return value{b: x.n > y.n}
	}
	return value{b: x.n >= y.n}
}

type inNode struct {
	a   node
	set []node
}

func (n inNode) kind() kind { return kBool }
func (n inNode) eval(s *Subject) value {
	x := n.a.eval(s)
	for _, m := range n.set {
		y := m.eval(s)
		if x.n == y.n && x.b == y.b && strings.EqualFold(x.s, y.s) {
			return value{b: true}
		}
	}
	return value{}
}
