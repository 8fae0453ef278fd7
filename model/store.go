package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tailor-dev/tailor/internal/kv"
	"github.com/tailor-dev/tailor/internal/wire"
)

// Keys under kv.PrefixModel: 'w', then for a named model 'n' and the
// length-prefixed name, then the kind.
const (
	kindCheckpoint byte = 's' // -> the learner's state
	kindLabel      byte = 'l' // big-endian seq -> one label
	kindSource     byte = 'o' // -> big-endian position of the last labels learned from a shared log (LearnFrom)
	kindNamed      byte = 'n'
)

// Encoding format versions.
const (
	checkpointFormat byte = 1
	labelFormat      byte = 1
)

// ErrCorrupt is returned for a stored checkpoint or label that cannot be decoded.
var ErrCorrupt = errors.New("model: corrupt record")

// keyPrefix is where the records of the model called name live.
func keyPrefix(name string) []byte {
	if name == "" {
		return []byte{kv.PrefixModel}
	}
	return kv.AppendOwnerPrefix([]byte{kv.PrefixModel}, kindNamed, name)
}

func checkpointKey(prefix []byte) []byte {
	return append(append([]byte(nil), prefix...), kindCheckpoint)
}

func sourceKey(prefix []byte) []byte {
	return append(append([]byte(nil), prefix...), kindSource)
}

func labelKey(dst, prefix []byte, seq uint64) []byte {
	dst = append(append(dst, prefix...), kindLabel)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// restore loads the checkpoint and replays the labels stored after it.
func (m *Model) restore() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, closer, err := m.db.Get(sourceKey(m.prefix)); err == nil {
		if len(v) == 8 {
			m.source = binary.BigEndian.Uint64(v)
		}
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("model: cannot read the labels' source: %w", err)
	}
	v, closer, err := m.db.Get(checkpointKey(m.prefix))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("model: cannot read checkpoint: %w", err)
	default:
		c, derr := decodeCheckpoint(v)
		closer.Close()
		switch {
		case derr != nil:
			m.opts.Logger.Printf("model: ignoring the checkpoint (%v); retraining from the stored labels", derr)
		case c.bits != m.opts.Bits:
			m.opts.Logger.Printf("model: the checkpoint has %d hash bits, not %d; retraining from the stored labels", c.bits, m.opts.Bits)
			// Versions keep growing, whatever the width.
			m.version = c.version
		default:
			for _, co := range c.coords {
				m.z[co.key], m.n[co.key] = co.z, co.n
			}
			m.labels, m.clicks, m.version = c.labels, c.clicks, c.version
			m.learned, m.ckptSeq, m.seq = c.seq, c.seq, c.seq
		}
	}
	// Replay what came after the checkpoint.
	lower := labelKey(nil, m.prefix, m.learned+1)
	upper := labelKey(nil, m.prefix, math.MaxUint64)
	it, err := m.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("model: cannot read labels: %w", err)
	}
	defer it.Close()
	var l Label
	replayed := 0
	for it.First(); it.Valid(); it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[len(m.prefix)+1:])
		if err := decodeLabelInto(&l, it.Value()); err != nil {
			m.opts.Logger.Printf("model: skipping label %d: %v", seq, err)
			continue
		}
		m.updateLocked(l.Features, l.Click)
		m.learned, m.seq = seq, seq
		replayed++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("model: cannot read labels: %w", err)
	}
	if replayed > 0 {
		m.opts.Logger.Printf("model: replayed %d labels stored after the last checkpoint", replayed)
	}
	return nil
}

// storeLabelsLocked writes labels under the next sequence numbers with one
// synced batch, and source, when not 0, beside them.
func (m *Model) storeLabelsLocked(labels []Label, source uint64) error {
	b := m.db.NewBatch()
	defer b.Close()
	var key, val []byte
	seq := m.seq
	for i := range labels {
		seq++
		key = labelKey(key[:0], m.prefix, seq)
		val = AppendLabel(val[:0], &labels[i])
		if err := b.Set(key, val, nil); err != nil {
			return err
		}
	}
	if source != 0 {
		if err := b.Set(sourceKey(m.prefix), binary.BigEndian.AppendUint64(nil, source), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("model: cannot store labels: %w", err)
	}
	m.seq = seq
	return nil
}

// checkpointLocked writes the learner's state and deletes labels older than
// the KeepLabels latest.
func (m *Model) checkpointLocked(now int64) error {
	if m.sincePub > 0 || len(m.dirtyList) > 0 {
		m.publishLocked(now)
	}
	buf := m.appendCheckpointLocked(nil)
	b := m.db.NewBatch()
	defer b.Close()
	if err := b.Set(checkpointKey(m.prefix), buf, nil); err != nil {
		return err
	}
	if keep := uint64(m.opts.KeepLabels); m.learned > keep {
		if err := b.DeleteRange(labelKey(nil, m.prefix, 0), labelKey(nil, m.prefix, m.learned-keep+1), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("model: cannot write checkpoint: %w", err)
	}
	m.ckptAt, m.ckptSeq = now, m.learned
	return nil
}

func (m *Model) appendCheckpointLocked(dst []byte) []byte {
	dst = append(dst, checkpointFormat, m.opts.Bits)
	dst = binary.AppendUvarint(dst, m.version)
	dst = binary.AppendUvarint(dst, m.labels)
	dst = binary.AppendUvarint(dst, m.clicks)
	dst = binary.AppendUvarint(dst, m.learned)
	n := 0
	for k := range m.n {
		if m.n[k] != 0 {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	prev := uint64(0)
	for k := range m.n {
		if m.n[k] == 0 {
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(k)-prev)
		prev = uint64(k)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(m.z[k]))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(m.n[k]))
	}
	return dst
}

type coord struct {
	key  uint32
	z, n float64
}

type checkpoint struct {
	bits                         uint8
	version, labels, clicks, seq uint64
	coords                       []coord
}

// decodeCheckpoint reads what appendCheckpointLocked wrote.
func decodeCheckpoint(b []byte) (*checkpoint, error) {
	d := wire.Reader{S: string(b)}
	if d.Byte() != checkpointFormat {
		return nil, ErrCorrupt
	}
	c := &checkpoint{bits: d.Byte()}
	if c.bits == 0 || c.bits > 28 {
		return nil, ErrCorrupt
	}
	c.version, c.labels, c.clicks, c.seq = d.Uvarint(), d.Uvarint(), d.Uvarint(), d.Uvarint()
	n := d.Uvarint()
	if d.Err || n > uint64(len(d.S))/17 || n > 1<<c.bits {
		return nil, ErrCorrupt
	}
	c.coords = make([]coord, 0, n)
	key := uint64(0)
	for i := uint64(0); i < n; i++ {
		delta := d.Uvarint()
		if i > 0 && delta == 0 {
			return nil, ErrCorrupt
		}
		key += delta
		z := math.Float64frombits(d.Uint64())
		nn := math.Float64frombits(d.Uint64())
		if d.Err || key >= 1<<c.bits || math.IsNaN(z) || math.IsInf(z, 0) || !(nn >= 0) || math.IsInf(nn, 0) {
			return nil, ErrCorrupt
		}
		c.coords = append(c.coords, coord{key: uint32(key), z: z, n: nn})
	}
	if len(d.S) != 0 {
		return nil, ErrCorrupt
	}
	return c, nil
}

// AppendLabel appends the stored encoding of l to dst.
func AppendLabel(dst []byte, l *Label) []byte {
	dst = append(dst, labelFormat)
	dst = binary.AppendVarint(dst, l.TS)
	click := byte(0)
	if l.Click {
		click = 1
	}
	dst = append(dst, click)
	dst = binary.AppendUvarint(dst, l.RecID)
	for _, s := range [...]string{l.Item, l.Experiment, l.Arm} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.Features)))
	for _, f := range l.Features {
		dst = binary.LittleEndian.AppendUint32(dst, f.Key)
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f.Value))
	}
	return dst
}

// DecodeLabel reads a label written by AppendLabel.
func DecodeLabel(b []byte) (Label, error) {
	var l Label
	err := decodeLabelInto(&l, b)
	return l, err
}

// decodeLabelInto decodes into l, reusing its Features.
func decodeLabelInto(l *Label, b []byte) error {
	d := wire.Reader{S: string(b)}
	if d.Byte() != labelFormat {
		return ErrCorrupt
	}
	l.TS = d.Varint()
	switch d.Byte() {
	case 0:
		l.Click = false
	case 1:
		l.Click = true
	default:
		return ErrCorrupt
	}
	l.RecID = d.Uvarint()
	l.Item, l.Experiment, l.Arm = d.Str(), d.Str(), d.Str()
	n := d.Uvarint()
	if d.Err || n > uint64(len(d.S))/8 {
		return ErrCorrupt
	}
	l.Features = l.Features[:0]
	for i := uint64(0); i < n; i++ {
		k := d.Uint32()
		v := math.Float32frombits(d.Uint32())
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return ErrCorrupt
		}
		l.Features = append(l.Features, Feature{Key: k, Value: v})
	}
	if d.Err || len(d.S) != 0 {
		return ErrCorrupt
	}
	return nil
}

// EachLabel calls fn with every label kept in db for the model called name
// ("" for the default one), oldest first. The label is reused between calls.
func EachLabel(db *pebble.DB, name string, fn func(seq uint64, l *Label) error) error {
	prefix := keyPrefix(name)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: labelKey(nil, prefix, 0), UpperBound: labelKey(nil, prefix, math.MaxUint64)})
	if err != nil {
		return err
	}
	defer it.Close()
	var l Label
	for it.First(); it.Valid(); it.Next() {
		if err := decodeLabelInto(&l, it.Value()); err != nil {
			return err
		}
		if err := fn(binary.BigEndian.Uint64(it.Key()[len(prefix)+1:]), &l); err != nil {
			return err
		}
	}
	return it.Error()
}
