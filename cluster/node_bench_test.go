package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/internal/kafkatest"
)

// BenchmarkWrite compares taking one event on a single node (service.Ingest:
// a synced Pebble commit) with taking it on a cluster node (a Kafka
// transaction to an in-process broker, then applying it from the log),
// one writer at a time and with writers in parallel, whose appends share
// transactions.
func BenchmarkWrite(b *testing.B) {
	_, brokers := kafkatest.Start(b, 1)
	node := startNode(b, brokers, b.TempDir(), "bench")
	single := startNode(b, brokers, b.TempDir(), "single-baseline")
	ctx := context.Background()
	event := func(i int) []features.Event {
		return []features.Event{{User: fmt.Sprintf("u%d", i%1000), Type: features.View, Item: "i1", TS: testNow.UnixMilli()}}
	}
	b.Run("single-node", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := single.svc.Ingest(event(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cluster-node", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, applied, err := node.node.AppendEvents(ctx, event(i)); err != nil || !applied {
				b.Fatal(applied, err)
			}
		}
	})
	b.Run("cluster-node-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, applied, err := node.node.AppendEvents(ctx, event(i)); err != nil || !applied {
					b.Fatal(applied, err)
				}
			}
		})
	})
}
