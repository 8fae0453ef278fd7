package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/tailor-dev/tailor/datasets"
)

// datasetsCmd converts a public data set into API request bodies.
func datasetsCmd(args []string) error {
	const usage = "usage: tailor datasets online-retail-ii [--in FILE] --out DIR [--chunk N]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Println(usage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "online-retail-ii" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("datasets online-retail-ii", flag.ContinueOnError)
	in := fs.String("in", datasets.DefaultOnlineRetailPath, "the data set's CSV `file` (.csv or .csv.gz)")
	out := fs.String("out", "", "`dir`ectory to write the NDJSON request bodies into")
	chunk := fs.Int("chunk", 10000, "records per file: one request each")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	files, err := datasets.ExportOnlineRetail(*in, *out, *chunk)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Println(f)
	}
	return nil
}
