package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/tailor-dev/tailor/cluster"
)

// clusterOptions reads --cluster: the Kafka brokers of the cluster's log, as
// kafka://HOST:PORT[,HOST:PORT...] (each may repeat the scheme). Empty means
// a single node: nil.
func clusterOptions(spec, topic, node string, partitions int) (*cluster.Options, error) {
	if spec == "" {
		if topic != "" || node != "" {
			return nil, fmt.Errorf("--cluster-topic and --node-name need --cluster")
		}
		return nil, nil
	}
	var brokers []string
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if scheme, rest, ok := strings.Cut(part, "://"); ok {
			if scheme != "kafka" {
				return nil, fmt.Errorf("--cluster: %q: the log is Kafka (or a Kafka-compatible broker such as Redpanda), given as kafka://HOST:PORT", part)
			}
			part = rest
		}
		if _, _, err := net.SplitHostPort(part); err != nil || part == "" {
			return nil, fmt.Errorf("--cluster: %q is not HOST:PORT", part)
		}
		brokers = append(brokers, part)
	}
	if partitions < 0 || partitions >= cluster.MaxPartitions {
		return nil, fmt.Errorf("--cluster-partitions: must be between 1 and %d", cluster.MaxPartitions-1)
	}
	return &cluster.Options{Log: cluster.LogOptions{Brokers: brokers, Topic: topic, Node: node, Partitions: int32(partitions)}}, nil
}
