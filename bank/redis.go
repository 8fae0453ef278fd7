package bank

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Bank over a Redis Cluster. Each budget has two keys that share
// the hash tag {campaign/period}, and so a slot: KeyPrefix{campaign/period}
// is a hash of the fields spent, leased and l:<node> (each node's lease,
// deleted at zero), and KeyPrefix{campaign/period}:n is a sorted set of the
// notice ids booked within the notice window, scored by the server's time
// in milliseconds. Each call is one Lua script run on the slot's master, in
// one round trip (with WAIT in the same round trip when
// Options.WaitReplicas is set).
//
// A call is sent at most once: a reply lost on the way back is an error, not
// a replay, because a replayed Lease or Return would apply twice. Calls that
// Redis refused without running them (MOVED, CLUSTERDOWN, TRYAGAIN, a node
// that cannot be dialed, as during a failover) are retried for about five
// seconds, less if ctx ends first.
//
// Budget hashes are never expired, because a total budget must not forget
// its spend; delete the keys of past periods when their reports are done.
type Redis struct {
	rdb  *redis.ClusterClient
	opts Options
	// window and wait are the notice window and WAIT timeout in ms.
	window, wait int64
}

// NewRedis returns a bank over rdb; nil opts means the defaults. The caller
// keeps rdb and closes it after the last call.
func NewRedis(rdb *redis.ClusterClient, opts *Options) (*Redis, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Redis{rdb: rdb, opts: o, window: o.NoticeWindow.Milliseconds(), wait: o.WaitTimeout.Milliseconds()}, nil
}

// lib holds the scripts' shared functions. Lua numbers hold integers
// exactly up to MaxAmount, but newer Redis versions pass a number such as
// 1e8 to commands as "1e+08", which HINCRBY refuses: int formats it as an
// integer. take takes up to most from node's lease and returns the amount.
const lib = `
local function int(n) return string.format('%d', n) end
local function take(node, most)
	local field = 'l:' .. node
	local held = tonumber(redis.call('HGET', KEYS[1], field) or 0)
	local n = math.min(held, most)
	if n <= 0 then return 0 end
	if n == held then
		redis.call('HDEL', KEYS[1], field)
	else
		redis.call('HINCRBY', KEYS[1], field, int(-n))
	end
	redis.call('HINCRBY', KEYS[1], 'leased', int(-n))
	return n
end
`

var (
	// leaseScript: ARGV node, limit, want; returns the amount granted.
	leaseScript = redis.NewScript(lib + `
local v = redis.call('HMGET', KEYS[1], 'spent', 'leased')
local n = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) - tonumber(v[1] or 0) - tonumber(v[2] or 0))
if n <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'leased', int(n))
redis.call('HINCRBY', KEYS[1], 'l:' .. ARGV[1], int(n))
return n`)

	// returnScript: ARGV node, amount; returns the amount taken back.
	returnScript = redis.NewScript(lib + `return take(ARGV[1], tonumber(ARGV[2]))`)

	// reclaimScript: ARGV node; returns the amount taken back.
	reclaimScript = redis.NewScript(lib + `return take(ARGV[1], math.huge)`)

	// bookScript: ARGV node, notice, amount, window (ms); returns 1 if
	// booked, 0 for a notice booked before.
	bookScript = redis.NewScript(lib + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now - tonumber(ARGV[4])))
if redis.call('ZADD', KEYS[2], 'NX', int(now), ARGV[2]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
take(ARGV[1], tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[3])
return 1`)

	// stateScript returns the budget hash as a flat field, value list.
	stateScript = redis.NewScript(`return redis.call('HGETALL', KEYS[1])`)
)

// Lease implements Bank.
func (r *Redis) Lease(ctx context.Context, node string, b Budget, want int64) (int64, error) {
	if err := check(node, b, want); err != nil {
		return 0, err
	}
	v, err := r.run(ctx, "lease", leaseScript, b, true, node, b.Limit, want)
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

// Return implements Bank.
func (r *Redis) Return(ctx context.Context, node string, b Budget, amount int64) error {
	if err := check(node, b, amount); err != nil {
		return err
	}
	_, err := r.run(ctx, "return lease", returnScript, b, true, node, amount)
	return err
}

// Book implements Bank.
func (r *Redis) Book(ctx context.Context, node string, b Budget, notice string, amount int64) (bool, error) {
	if err := check(node, b, amount); err != nil || notice == "" {
		return false, ErrInvalid
	}
	v, err := r.run(ctx, "book", bookScript, b, true, node, notice, amount, r.window)
	if err != nil {
		return false, err
	}
	return v.(int64) == 1, nil
}

// Reclaim implements Bank.
func (r *Redis) Reclaim(ctx context.Context, node string, b Budget) (int64, error) {
	if err := check(node, b, 0); err != nil {
		return 0, err
	}
	v, err := r.run(ctx, "reclaim", reclaimScript, b, true, node)
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

// State implements Bank.
func (r *Redis) State(ctx context.Context, b Budget) (State, error) {
	if err := checkBudget(b); err != nil {
		return State{}, err
	}
	v, err := r.run(ctx, "read state", stateScript, b, false)
	if err != nil {
		return State{}, err
	}
	kv, _ := v.([]any)
	st := State{Nodes: make(map[string]int64)}
	for i := 0; i+1 < len(kv); i += 2 {
		field, _ := kv[i].(string)
		s, _ := kv[i+1].(string)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return State{}, fmt.Errorf("bank: field %q of budget %s/%s: %w", field, b.Campaign, b.Period, err)
		}
		switch {
		case field == "spent":
			st.Spent = n
		case field == "leased":
			st.Leased = n
		case strings.HasPrefix(field, "l:"):
			st.Nodes[field[2:]] = n
		}
	}
	return st, nil
}

// attempts is how many times run tries to send a script; with backoff's
// delays, about five seconds in all.
const attempts = 14

// backoff returns the delay before the attempt after the given one.
func backoff(attempt int) time.Duration {
	return min(10*time.Millisecond<<attempt, 500*time.Millisecond)
}

// run runs script on the master of b's slot with b's keys and args, followed
// by WAIT if write and Options.WaitReplicas is set, and returns its result.
// It sends the script again only if it was not sent or Redis refused it (see
// refused), or after loading it into a master that did not have it.
func (r *Redis) run(ctx context.Context, op string, script *redis.Script, b Budget, write bool, args ...any) (any, error) {
	key := r.opts.KeyPrefix + "{" + b.Campaign + "/" + b.Period + "}"
	cmdArgs := make([]any, 0, 5+len(args))
	cmdArgs = append(cmdArgs, "evalsha", script.Hash(), 2, key, key+":n")
	cmdArgs = append(cmdArgs, args...)
	for attempt := 1; ; attempt++ {
		master, err := r.rdb.MasterForKey(ctx, key)
		sent := err == nil
		var v any
		if sent {
			v, err = r.once(ctx, master, cmdArgs, write)
		}
		switch {
		case err == nil:
			return v, nil
		case errors.Is(err, ErrNotReplicated):
			return nil, err
		case redis.HasErrorPrefix(err, "NOSCRIPT") && attempt < attempts:
			// As on a replica just promoted: scripts are cached per node.
			if err = script.Load(ctx, master).Err(); err == nil {
				continue
			}
		case (!sent || refused(err)) && attempt < attempts:
			r.rdb.ReloadState(ctx)
			t := time.NewTimer(backoff(attempt))
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				err = ctx.Err()
			}
		}
		return nil, fmt.Errorf("bank: cannot %s: %w", op, err)
	}
}

// once sends the command args, which runs a script, to master, followed by
// WAIT if write and Options.WaitReplicas is set.
func (r *Redis) once(ctx context.Context, master *redis.Client, args []any, write bool) (any, error) {
	cmd := onceCmd{redis.NewCmd(ctx, args...)}
	if !write || r.opts.WaitReplicas == 0 {
		_ = master.Process(ctx, cmd)
		return cmd.Result()
	}
	wait := redis.NewIntCmd(ctx, "wait", r.opts.WaitReplicas, r.wait)
	pipe := master.Pipeline()
	_ = pipe.Process(ctx, cmd)
	_ = pipe.Process(ctx, wait)
	_, _ = pipe.Exec(ctx)
	v, err := cmd.Result()
	if err != nil {
		return nil, err
	}
	if n, err := wait.Result(); err != nil || n < int64(r.opts.WaitReplicas) {
		return nil, ErrNotReplicated
	}
	return v, nil
}

// onceCmd is a command that go-redis never sends twice: it retries a
// command whose reply was lost, and a script run twice would apply twice.
type onceCmd struct{ *redis.Cmd }

// NoRetry tells go-redis not to resend the command once it is written.
func (onceCmd) NoRetry() bool { return true }

// refused reports whether err says that Redis did not run the command: it
// was sent to the wrong node or none, or the cluster could not serve it
// then.
func refused(err error) bool {
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	if _, ok := redis.IsAskError(err); ok {
		return true
	}
	var op *net.OpError
	return redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsMasterDownError(err) ||
		redis.IsLoadingError(err) || redis.IsReadOnlyError(err) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) ||
		(errors.As(err, &op) && op.Op == "dial")
}

// Beat marks node alive for ttl: a key of its own with that expiry.
// Repeating it is harmless, so it is sent as any command is, with retries.
func (r *Redis) Beat(ctx context.Context, node string, ttl time.Duration) error {
	if node == "" || ttl < time.Millisecond {
		return ErrInvalid
	}
	if err := r.rdb.Set(ctx, r.heartKey(node), "1", ttl).Err(); err != nil {
		return fmt.Errorf("bank: cannot mark %s alive: %w", node, err)
	}
	return nil
}

// Alive reports whether node's last Beat has not lapsed, as Redis's clock
// has it.
func (r *Redis) Alive(ctx context.Context, node string) (bool, error) {
	if node == "" {
		return false, ErrInvalid
	}
	n, err := r.rdb.Exists(ctx, r.heartKey(node)).Result()
	if err != nil {
		return false, fmt.Errorf("bank: cannot read the liveness of %s: %w", node, err)
	}
	return n == 1, nil
}

func (r *Redis) heartKey(node string) string { return r.opts.KeyPrefix + "node:{" + node + "}" }
