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
// release's). Against the newest, a node commits with Kafka 4.0's
// transactions (KIP-890 part 2: the producer's epoch bumped at every
// commit), and under load the broker lost acknowledged records: a record
// whose append had returned without error was hidden from every reader of
// committed records, a new one too, while a reader of uncommitted records
// saw it. In another run, a produce was refused with
// OUT_OF_ORDER_SEQUENCE_NUMBER.
// Kafka 3.9's protocol is the one Redpanda and Kafka before 4.0 speak.
func Start(t testing.TB, brokers int) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.MaxVersions(kversion.V3_9_0()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}
