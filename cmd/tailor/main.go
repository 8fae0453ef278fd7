// Command tailor is the tailor service and its tools.
//
//	tailor serve [flags]   run the API
//
// Run "tailor help" for the commands and "tailor COMMAND -h" for their flags.
package main

import (
	"fmt"
	"os"
)

const usage = `tailor: real-time personalized recommendations and ad targeting

Usage:
  tailor serve [--addr HOST:PORT] [--data DIR] [--cache-mb N] [--demo]
  tailor datasets online-retail-ii --out DIR   convert a public data set into API request bodies
  tailor eval movielens|online-retail|otto|csv|clicks [flags]   replay public logs: tailor against baselines
  tailor bench gen|load|run|sweep|compare|self [flags]   load tests: synthetic worlds, open-loop load, reports
  tailor help

Run "tailor COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "datasets":
		err = datasetsCmd(args)
	case "eval":
		err = evalCmd(args)
	case "bench":
		err = benchCmd(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "tailor: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tailor:", err)
		os.Exit(1)
	}
}
