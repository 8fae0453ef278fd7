package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tailor-dev/tailor/audience"
)

// Redis is the Store of the nodes of a cluster, in a Redis Cluster. Every
// key shares the hash tag {trigger}, so they live in one slot and each call
// is one script run atomically on its master:
//
//	P{trigger}:seq           the last sequence number given out
//	P{trigger}:records       a sorted set of the records' JSON, scored by sequence number
//	P{trigger}:m:AUDIENCE    a hash of user -> "in:version:time" for the users who have been in the audience
//	P{trigger}:cursors       a hash of audience -> "seq:since:incarnation", the delivery queues' cursors
//	P{trigger}:claim:AUDIENCE  the node that delivers the audience's records, expiring unless renewed
//
// where P is the key prefix. Every node evaluates the users whose events it
// applies; the first evaluation to find a user newly inside appends the
// record, and the others find the membership already there, so a
// transition makes one record however many nodes see it. Every call is
// safe to repeat, so go-redis's retries apply.
//
// Durability is Redis's: run it with appendonly and replicas, as for the
// budgets.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string

	appends // by this process only; the queues poll for other nodes' appends
}

// NewRedis returns the Store over rdb, its keys starting with prefix (such
// as "tailor:"). The caller keeps rdb and closes it after the last call.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix + "{trigger}:"}
}

func (r *Redis) key(name string) string { return r.prefix + name }

var (
	// applyScript: KEYS seq, records, then the membership hash of each
	// audience; ARGV now, the number of audiences, their names, then for
	// each evaluation its user, version and a string of '1' (in) or '0'
	// (out) per audience. It returns the records appended, as JSON.
	applyScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local na = tonumber(ARGV[2])
local seq = tonumber(redis.call('GET', KEYS[1]) or 0)
local first = seq
local out = {}
for i = 3 + na, #ARGV, 3 do
	local user, version, bits = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
	for a = 1, na do
		local key = KEYS[2 + a]
		local is = string.sub(bits, a, a) == '1'
		local stored = redis.call('HGET', key, user)
		local was, sv, sat = false, -1, -1
		if stored then
			local s1 = string.find(stored, ':', 1, true)
			local s2 = string.find(stored, ':', s1 + 1, true)
			was = string.sub(stored, 1, s1 - 1) == '1'
			sv = tonumber(string.sub(stored, s1 + 1, s2 - 1))
			sat = tonumber(string.sub(stored, s2 + 1))
		end
		if not stored or version > sv or (version == sv and now >= sat) then
			if is and not was then
				seq = seq + 1
				local rec = '{"seq":' .. string.format('%d', seq) .. ',"ts":' .. string.format('%d', now) ..
					',"user":' .. cjson.encode(user) .. ',"audience":' .. cjson.encode(ARGV[2 + a]) .. ',"event":"enter"}'
				redis.call('ZADD', KEYS[2], seq, rec)
				out[#out + 1] = rec
			end
			if is ~= was or (stored and version > sv) then
				redis.call('HSET', key, user, (is and '1:' or '0:') .. string.format('%d', version) .. ':' .. string.format('%d', now))
			end
		end
	end
end
if seq ~= first then redis.call('SET', KEYS[1], string.format('%d', seq)) end
return out`)

	// forgetScript: KEYS the membership hashes; ARGV the user.
	forgetScript = redis.NewScript(`
for _, key in ipairs(KEYS) do redis.call('HDEL', key, ARGV[1]) end
return 0`)

	// claimScript: KEYS the claim; ARGV holder, ttl (ms). 1 if held.
	claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

	// unclaimScript: KEYS the claim; ARGV holder.
	unclaimScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`)

	// saveCursorScript: KEYS cursors, the claim; ARGV name, cursor, holder.
	// 1 if saved, 0 if holder does not hold the claim.
	saveCursorScript = redis.NewScript(`
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`)

	// dropCursorScript: KEYS cursors, the claim; ARGV name. Deletes the
	// cursor unless a node holds the queue's claim.
	dropCursorScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`)
)

// Apply implements Store, in one script run.
func (r *Redis) Apply(ctx context.Context, triggered []*audience.Audience, evals []Evaluation, now int64) ([]Record, error) {
	if len(triggered) == 0 || len(evals) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, 2+len(triggered))
	keys = append(keys, r.key("seq"), r.key("records"))
	args := make([]any, 0, 2+len(triggered)+3*len(evals))
	args = append(args, now, len(triggered))
	for _, a := range triggered {
		keys = append(keys, r.key("m:"+a.Name))
		args = append(args, a.Name)
	}
	bits := make([]byte, len(triggered))
	for _, ev := range evals {
		for i, a := range triggered {
			bits[i] = '0'
			if ev.Member(a) {
				bits[i] = '1'
			}
		}
		args = append(args, ev.User, ev.Version, string(bits))
	}
	v, err := applyScript.Run(ctx, r.rdb, keys, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("trigger: cannot store records: %w", err)
	}
	out, err := decodeRecords(v)
	if len(out) > 0 {
		r.signal()
	}
	return out, err
}

func decodeRecords(v []string) ([]Record, error) {
	var out []Record
	for _, s := range v {
		var rec Record
		if err := json.Unmarshal([]byte(s), &rec); err != nil {
			return out, fmt.Errorf("trigger: corrupt record: %w", err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// Read implements Store.
func (r *Redis) Read(ctx context.Context, after uint64, limit int) ([]Record, error) {
	v, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: r.key("records"), ByScore: true,
		Start: "(" + strconv.FormatUint(after, 10), Stop: "+inf", Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("trigger: cannot read records: %w", err)
	}
	return decodeRecords(v)
}

// Last implements Store.
func (r *Redis) Last(ctx context.Context) (uint64, error) {
	n, err := r.rdb.Get(ctx, r.key("seq")).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("trigger: cannot read the last record: %w", err)
	}
	return n, nil
}

// ForgetUser implements Store.
func (r *Redis) ForgetUser(ctx context.Context, triggered []*audience.Audience, user string) error {
	if len(triggered) == 0 {
		return nil
	}
	keys := make([]string, len(triggered))
	for i, a := range triggered {
		keys[i] = r.key("m:" + a.Name)
	}
	if err := forgetScript.Run(ctx, r.rdb, keys, user).Err(); err != nil {
		return fmt.Errorf("trigger: cannot forget %s: %w", user, err)
	}
	return nil
}

// Cursor implements Store; a new queue starts at the first record.
func (r *Redis) Cursor(ctx context.Context, name string) (Cursor, bool, error) {
	v, err := r.rdb.HGet(ctx, r.key("cursors"), name).Result()
	if errors.Is(err, redis.Nil) {
		return Cursor{}, false, nil
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("trigger: cannot read the cursor of audience %s: %w", name, err)
	}
	var c Cursor
	f := strings.Split(v, ":")
	if len(f) != 3 {
		return Cursor{}, false, fmt.Errorf("trigger: corrupt cursor of audience %s: %q", name, v)
	}
	c.Seq, err = strconv.ParseUint(f[0], 10, 64)
	if err == nil {
		c.Since, err = strconv.ParseInt(f[1], 10, 64)
	}
	if err == nil {
		c.Incarnation, err = strconv.ParseUint(f[2], 10, 64)
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("trigger: corrupt cursor of audience %s: %q", name, v)
	}
	return c, true, nil
}

// SaveCursor implements Store.
func (r *Redis) SaveCursor(ctx context.Context, name string, c Cursor, holder string) (bool, error) {
	v := fmt.Sprintf("%d:%d:%d", c.Seq, c.Since, c.Incarnation)
	n, err := saveCursorScript.Run(ctx, r.rdb, []string{r.key("cursors"), r.key("claim:" + name)}, name, v, holder).Int()
	if err != nil {
		return false, fmt.Errorf("trigger: cannot store the cursor of audience %s: %w", name, err)
	}
	return n == 1, nil
}

// DropCursors implements Store, sparing the cursors of queues another
// node still delivers: nodes apply a change of the audiences at different
// times.
func (r *Redis) DropCursors(ctx context.Context, keep func(name string) bool) error {
	names, err := r.rdb.HKeys(ctx, r.key("cursors")).Result()
	if err != nil {
		return fmt.Errorf("trigger: cannot list cursors: %w", err)
	}
	for _, name := range names {
		if keep(name) {
			continue
		}
		if err := dropCursorScript.Run(ctx, r.rdb, []string{r.key("cursors"), r.key("claim:" + name)}, name).Err(); err != nil {
			return fmt.Errorf("trigger: cannot delete the cursor of audience %s: %w", name, err)
		}
	}
	return nil
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	n, err := claimScript.Run(ctx, r.rdb, []string{r.key("claim:" + name)}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("trigger: cannot claim the queue of audience %s: %w", name, err)
	}
	return n == 1, nil
}

// Unclaim implements Store.
func (r *Redis) Unclaim(ctx context.Context, name, holder string) error {
	if err := unclaimScript.Run(ctx, r.rdb, []string{r.key("claim:" + name)}, holder).Err(); err != nil {
		return fmt.Errorf("trigger: cannot give up the queue of audience %s: %w", name, err)
	}
	return nil
}
