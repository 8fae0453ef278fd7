package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The README's API reference runs as a walkthrough: TestReadmeExamples
// takes every curl command of its shell blocks, from "## API" up to the
// flags table, and runs them in order against a fresh `tailor serve --demo`.
// An answer shown after "# ->" must be the answer, exactly (JSON compared
// as values); a status list ("# -> 204 ..., or 200") must hold the status;
// any other command must succeed (2xx). REC_ID stands for the rec_id of
// the latest recommend answer, TOKEN for the notice token of the latest bid.
const (
	readmeFrom = "## API"
	readmeTo   = "## `tailor serve` flags"
)

// readmeSkip marks the blocks that need files the walkthrough has not got.
var readmeSkip = []string{"datasets online-retail-ii"}

// curlCall is one curl command of the README.
type curlCall struct {
	line    int // in README.md
	method  string
	url     string
	body    string
	headers [][2]string
	expect  string // after "# ->", "" when none
}

func TestReadmeExamples(t *testing.T) {
	calls := readmeCalls(t, "../../README.md")
	if len(calls) < 25 {
		t.Fatalf("found %d curl examples in the README's API reference; the parser lost them", len(calls))
	}
	bin := buildTailor(t)
	p := startTailor(t, bin, t.TempDir(), "--demo")
	base, err := url.Parse(p.base)
	if err != nil {
		t.Fatal(err)
	}
	recID, token := "", ""
	for _, c := range calls {
		u := strings.ReplaceAll(c.url, "REC_ID", recID)
		u = strings.ReplaceAll(u, "TOKEN", token)
		u = strings.Replace(u, "localhost:8080", base.Host, 1)
		if !strings.HasPrefix(u, "http") {
			u = "http://" + u
		}
		body := strings.ReplaceAll(c.body, "REC_ID", recID)
		req, err := http.NewRequest(c.method, u, strings.NewReader(body))
		if err != nil {
			t.Fatalf("README.md:%d: %v", c.line, err)
		}
		for _, h := range c.headers {
			req.Header.Set(h[0], h[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("README.md:%d: %s %s: %v", c.line, c.method, u, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := fmt.Sprintf("README.md:%d: %s %s", c.line, c.method, c.url)
		checkAnswer(t, what, c.expect, resp.StatusCode, out)
		var answer struct {
			RecID   string `json:"rec_id"`
			SeatBid []struct {
				Bid []struct{ NURL string }
			}
		}
		if json.Unmarshal(out, &answer) == nil {
			if answer.RecID != "" {
				recID = answer.RecID
			}
			if len(answer.SeatBid) > 0 && len(answer.SeatBid[0].Bid) > 0 {
				if n, err := url.Parse(answer.SeatBid[0].Bid[0].NURL); err == nil {
					token = n.Query().Get("t")
				}
			}
		}
	}
}

// checkAnswer compares an answer with what the README shows.
func checkAnswer(t *testing.T, what, expect string, status int, out []byte) {
	t.Helper()
	switch {
	case strings.HasPrefix(expect, "{"):
		var want, got any
		dec := json.NewDecoder(strings.NewReader(expect))
		if err := dec.Decode(&want); err != nil {
			// An abbreviated answer ({"records":[...]}): the status only.
			if status/100 != 2 {
				t.Errorf("%s = %d %s", what, status, out)
			}
			return
		}
		if err := json.Unmarshal(out, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %d %s, the README shows %s", what, status, bytes.TrimSpace(out), expect)
		}
	case expect != "" && expect[0] >= '0' && expect[0] <= '9':
		codes := regexp.MustCompile(`\b[1-5]\d\d\b`).FindAllString(expect, -1)
		if !slicesContain(codes, fmt.Sprint(status)) {
			t.Errorf("%s = %d %s, the README says %s", what, status, out, expect)
		}
	default:
		if status/100 != 2 {
			t.Errorf("%s = %d %s", what, status, out)
		}
	}
}

func slicesContain(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// readmeCalls returns the curl commands of the README's API reference, in
// order, with what the README shows they answer.
func readmeCalls(t *testing.T, path string) []curlCall {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	var calls []curlCall
	in, block, blockStart := false, false, 0
	var blockLines []string
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, readmeFrom):
			in = true
		case strings.HasPrefix(l, readmeTo):
			in = false
		}
		if !in {
			continue
		}
		if strings.HasPrefix(l, "```") {
			if !block && strings.TrimPrefix(l, "```") == "sh" {
				block, blockStart, blockLines = true, i+1, nil
				continue
			}
			if block {
				block = false
				text := strings.Join(blockLines, "\n")
				skip := false
				for _, s := range readmeSkip {
					skip = skip || strings.Contains(text, s)
				}
				if !skip {
					calls = append(calls, parseCurls(t, blockLines, blockStart)...)
				}
			}
			continue
		}
		if block {
			blockLines = append(blockLines, l)
		}
	}
	return calls
}

// parseCurls reads the curl commands of one shell block whose first line
// is README line first+1.
func parseCurls(t *testing.T, lines []string, first int) []curlCall {
	var calls []curlCall
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "curl ") {
			if strings.HasPrefix(lines[i], "# ->") && len(calls) > 0 && calls[len(calls)-1].expect == "" {
				calls[len(calls)-1].expect = strings.TrimSpace(strings.TrimPrefix(lines[i], "# ->"))
			}
			continue
		}
		start := i
		cmd := lines[i]
		for !balanced(cmd) && i+1 < len(lines) {
			i++
			cmd += "\n" + lines[i]
		}
		words, comment := shellWords(cmd)
		c := curlCall{line: first + start + 1, method: "GET"}
		if _, after, ok := strings.Cut(comment, "->"); ok {
			c.expect = strings.TrimSpace(after)
		}
		for j := 1; j < len(words); j++ {
			switch w := words[j]; w {
			case "-s":
			case "-X":
				j++
				c.method = words[j]
			case "-d", "--data-binary":
				j++
				c.body = words[j]
				if c.method == "GET" {
					c.method = "POST"
				}
			case "-H":
				j++
				k, v, _ := strings.Cut(words[j], ":")
				c.headers = append(c.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			default:
				if strings.HasPrefix(w, "-") {
					t.Fatalf("README.md:%d: curl flag %s is not understood by this test", c.line, w)
				}
				c.url = w
			}
		}
		calls = append(calls, c)
	}
	return calls
}

// balanced reports whether cmd closes every quote it opens.
func balanced(cmd string) bool {
	var q byte
	for i := 0; i < len(cmd); i++ {
		switch ch := cmd[i]; {
		case q == 0 && (ch == '\'' || ch == '"'):
			q = ch
		case q == '"' && ch == '\\':
			i++
		case ch == q:
			q = 0
		}
	}
	return q == 0
}

// shellWords splits a command as a POSIX shell would (single and double
// quotes, backslash escapes in double quotes) and returns the comment that
// ends it.
func shellWords(cmd string) (words []string, comment string) {
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(cmd[i+1:], '\'')
			w.WriteString(cmd[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			inWord = true
			for i++; i < len(cmd) && cmd[i] != '"'; i++ {
				if cmd[i] == '\\' && i+1 < len(cmd) {
					i++
				}
				w.WriteByte(cmd[i])
			}
		case ch == '#' && !inWord:
			flush()
			return words, cmd[i+1:]
		case ch == ' ' || ch == '\t' || ch == '\n':
			flush()
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words, ""
}
