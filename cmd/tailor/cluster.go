package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tailor-dev/tailor/bank"
	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/ledger"
	"github.com/tailor-dev/tailor/service"
	"github.com/tailor-dev/tailor/trigger"
)

// clusterSpec is what --cluster names: the Kafka brokers of the cluster's
// log, and the Redis Cluster nodes of its shared state (budgets and
// triggers).
type clusterSpec struct {
	opts  *cluster.Options
	redis []string
}

// clusterOptions reads --cluster: kafka://HOST:PORT for the brokers of the
// cluster's log and redis://HOST:PORT for the Redis Cluster that holds the
// campaigns' budgets, comma-separated; an address without a scheme takes
// the one before it (kafka://k1:9092,k2:9092,redis://r1:6379,r2:6379).
// Empty means a single node: a nil opts.
func clusterOptions(spec, topic, node string, partitions int) (clusterSpec, error) {
	var cs clusterSpec
	if spec == "" {
		if topic != "" || node != "" {
			return cs, fmt.Errorf("--cluster-topic and --node-name need --cluster")
		}
		return cs, nil
	}
	var brokers []string
	scheme := ""
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if s, rest, ok := strings.Cut(part, "://"); ok {
			scheme, part = s, rest
		}
		if _, _, err := net.SplitHostPort(part); err != nil || part == "" {
			return cs, fmt.Errorf("--cluster: %q is not HOST:PORT", part)
		}
		switch scheme {
		case "kafka":
			brokers = append(brokers, part)
		case "redis":
			cs.redis = append(cs.redis, part)
		default:
			return cs, fmt.Errorf("--cluster: %q: give the log's brokers as kafka://HOST:PORT (Kafka or a Kafka-compatible "+
				"broker such as Redpanda) and the bank's Redis Cluster nodes as redis://HOST:PORT", part)
		}
	}
	if len(brokers) == 0 {
		return cs, fmt.Errorf("--cluster: no kafka:// brokers: a cluster's nodes share a Kafka log")
	}
	if len(cs.redis) > 0 && node == "" {
		return cs, fmt.Errorf("--cluster with redis://: give each node a --node-name, unique and the same across its restarts, under which it holds its budget leases")
	}
	if partitions < 0 || partitions >= cluster.MaxPartitions {
		return cs, fmt.Errorf("--cluster-partitions: must be between 1 and %d", cluster.MaxPartitions-1)
	}
	cs.opts = &cluster.Options{Log: cluster.LogOptions{Brokers: brokers, Topic: topic, Node: node, Partitions: int32(partitions)}}
	return cs, nil
}

// redisShared is what the nodes of a cluster share through Redis Cluster:
// the campaigns' budgets and the triggers' state.
type redisShared struct {
	budgets  ledger.SharedOptions
	triggers service.SharedTriggers
}

// sharedState connects to the cluster's Redis Cluster when --cluster names
// one (each budget write waiting for replicas of them), and returns the
// ledger's and the triggers' shared options and what closes the connection.
func sharedState(cs clusterSpec, node string, replicas int) (redisShared, func(), error) {
	if len(cs.redis) == 0 {
		if replicas != 0 {
			return redisShared{}, nil, fmt.Errorf("--bank-replicas needs --cluster with redis://")
		}
		return redisShared{}, func() {}, nil
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cs.redis})
	b, err := bank.NewRedis(rdb, &bank.Options{WaitReplicas: replicas})
	if err != nil {
		rdb.Close()
		return redisShared{}, nil, fmt.Errorf("--cluster: %w", err)
	}
	return redisShared{
		budgets: ledger.SharedOptions{Bank: b, Node: node},
		triggers: service.SharedTriggers{
			Store:  trigger.NewRedis(rdb, "tailor:"),
			Outbox: trigger.OutboxOptions{Node: node},
		},
	}, func() { rdb.Close() }, nil
}
