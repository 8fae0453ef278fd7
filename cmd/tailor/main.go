// Command tailor is the tailor service and its tools.
//
//	tailor serve [flags]   run the API
//
// Run "tailor help" for the commands and "tailor COMMAND -h" for their flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `tailor: real-time personalized recommendations and ad targeting

Usage:
  tailor serve [--addr HOST:PORT] [--data DIR] [--cache-mb N] [--demo]
  tailor datasets online-retail-ii --out DIR   convert a public data set into API request bodies
  tailor eval movielens|online-retail|otto|csv|clicks [flags]   replay public logs: tailor against baselines
  tailor bench gen|load|run|sweep|compare|self [flags]   load tests: synthetic worlds, open-loop load, reports
  tailor restore --from BACKUP --data DIR      copy a backup (POST /v1/admin/backup) into a new data directory
  tailor probe [URL]                           exit 0 if URL (default http://127.0.0.1:8080/readyz) answers 200
  tailor version                               the version, the commit it was built from, and Go's
  tailor help

Run "tailor COMMAND -h" for a command's flags.
`

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		quietMonitor()
		err = serve(args)
	case "datasets":
		err = datasetsCmd(args)
	case "eval":
		err = evalCmd(args)
	case "bench":
		err = benchCmd(args)
	case "restore":
		err = restoreCmd(args)
	case "probe":
		err = probeCmd(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	case "version", "--version":
		fmt.Println(versionString())
		return
	default:
		fmt.Fprintf(os.Stderr, "tailor: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // COMMAND -h printed its flags: asked for, not an error
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tailor:", err)
		os.Exit(1)
	}
}
