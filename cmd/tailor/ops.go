package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/tailor-dev/tailor/service"
)

// probeCmd checks a health URL, for container health checks in images
// without a shell or curl: it exits 0 when the URL answers 200 in time.
func probeCmd(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "how long the answer may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := "http://127.0.0.1:8080/readyz"
	if fs.NArg() > 0 {
		url = fs.Arg(0)
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s answered %s", url, resp.Status)
	}
	return nil
}

// restoreCmd copies a backup (POST /v1/admin/backup) into a new data
// directory, for a server to be started on.
func restoreCmd(args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fs.String("from", "", "the backup's `DIR`ectory")
	data := fs.String("data", "", "the data `DIR`ectory to restore into: must not exist or be empty; no server may be running on it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *data == "" {
		return errors.New("restore: --from and --data are required")
	}
	if err := service.Restore(*from, *data); err != nil {
		return err
	}
	fmt.Printf("restored %s into %s; start the server with --data %s\n", *from, *data, *data)
	return nil
}
