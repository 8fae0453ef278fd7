// Package kafkatest starts in-process Kafka brokers (franz-go's kfake) for
// the tests of a cluster's log.
package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Start starts a cluster of brokers brokers on loopback, closed when t ends,
// and returns it with the addresses to give a node.
//
// The brokers speak Kafka 3.9's protocol, not kfake's default (the newest
// release's, whose transactions bump the producer's epoch at every commit,
// KIP-890 part 2). Under load on the newest, acknowledged records went
// missing for readers of committed records; most or all of that was the
// Kafka client's race that cluster.awaitPartitions now closes (with it, the
// click model's test passed 300 runs under load on 4.0's protocol, and
// failed without it). One run there also refused a produce with
// OUT_OF_ORDER_SEQUENCE_NUMBER, which is not explained, so the suite stays on
// 3.9's protocol, the one Redpanda and Kafka before 4.0 speak; the log's own
// tests run both.
func Start(t testing.TB, brokers int) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.MaxVersions(kversion.V3_9_0()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}
