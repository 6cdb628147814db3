package jinja

import (
	"crypto/sha512"
	"math/big"
	"math/bits"
	"math/rand/v2"
)

// pyRandom reproduces CPython's random.Random (MT19937) for the seeded forms
// of the random and shuffle filters, so that `59 | random(seed=inventory_hostname)`
// gives the same value as in Ansible.
type pyRandom struct {
	mt  [624]uint32
	idx int
}

// newPyRandom seeds like random.Random(seed); strings use seed version 2.
func newPyRandom(seed any) *pyRandom {
	var n *big.Int
	switch s := native(seed).(type) {
	case string:
		sum := sha512.Sum512([]byte(s))
		n = new(big.Int).SetBytes(append([]byte(s), sum[:]...))
	case int:
		n = big.NewInt(int64(s))
		n.Abs(n)
	case bool:
		if s {
			n = big.NewInt(1)
		} else {
			n = big.NewInt(0)
		}
	default:
		sum := sha512.Sum512([]byte(PyStr(s)))
		str := PyStr(s)
		n = new(big.Int).SetBytes(append([]byte(str), sum[:]...))
	}
	words := n.Bits()
	var key []uint32
	for _, w := range words {
		key = append(key, uint32(w))
		if bits.UintSize == 64 {
			key = append(key, uint32(uint64(w)>>32))
		}
	}
	for len(key) > 1 && key[len(key)-1] == 0 {
		key = key[:len(key)-1]
	}
	if len(key) == 0 {
		key = []uint32{0}
	}
	r := &pyRandom{}
	r.initByArray(key)
	return r
}

func (r *pyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = 624
}

func (r *pyRandom) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	k := max(624, len(key))
	for ; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = 623; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
}

func (r *pyRandom) uint32() uint32 {
	if r.idx >= 624 {
		for i := 0; i < 624; i++ {
			y := (r.mt[i] & 0x80000000) | (r.mt[(i+1)%624] & 0x7fffffff)
			r.mt[i] = r.mt[(i+397)%624] ^ (y >> 1)
			if y&1 != 0 {
				r.mt[i] ^= 0x9908b0df
			}
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// getrandbits returns k random bits (k <= 63).
func (r *pyRandom) getrandbits(k int) uint64 {
	if k <= 32 {
		return uint64(r.uint32() >> (32 - k))
	}
	lo := uint64(r.uint32())
	hi := uint64(r.uint32() >> (64 - k))
	return lo | hi<<32
}

// below is random._randbelow_with_getrandbits.
func (r *pyRandom) below(n int) int {
	if n <= 0 {
		return 0
	}
	k := bits.Len64(uint64(n))
	v := r.getrandbits(k)
	for v >= uint64(n) {
		v = r.getrandbits(k)
	}
	return int(v)
}

// randSource is either a seeded CPython-compatible generator or math/rand.
type randSource interface{ below(n int) int }

type goRandom struct{}

func (goRandom) below(n int) int {
	if n <= 0 {
		return 0
	}
	return rand.IntN(n)
}

func randomSource(seed any) randSource {
	if seed == nil {
		return goRandom{}
	}
	return newPyRandom(seed)
}

// filterRandom is Ansible's random(end, start=None, step=None, seed=None).
func filterRandom(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	start := argv(args, kw, 0, "start", nil)
	step := argv(args, kw, 1, "step", nil)
	r := randomSource(argv(args, kw, 2, "seed", nil))
	switch end := in.(type) {
	case int:
		s, st := 0, 1
		if t, _ := truthy(start); t {
			v, err := asInt(start, "start")
			if err != nil {
				return nil, err
			}
			s = v
		}
		if t, _ := truthy(step); t {
			v, err := asInt(step, "step")
			if err != nil {
				return nil, err
			}
			st = v
		}
		width := end - s
		var n int
		switch {
		case st == 1:
			n = width
		case st > 0:
			n = (width + st - 1) / st
		case st < 0:
			n = (width + st + 1) / st
		}
		if n <= 0 {
			return nil, filterErrorf("empty range for randrange() (%d, %d, %d)", s, end, width)
		}
		return s + st*r.below(n), nil
	case string, []any, map[string]any:
		if t1, _ := truthy(start); t1 {
			return nil, filterErrorf("start and step can only be used with integer values")
		}
		if t2, _ := truthy(step); t2 {
			return nil, filterErrorf("start and step can only be used with integer values")
		}
		items, _ := asList(end)
		if len(items) == 0 {
			return nil, filterErrorf("Cannot choose from an empty sequence")
		}
		return items[r.below(len(items))], nil
	}
	return nil, filterErrorf("random can only be used on sequences and integers")
}

// filterShuffle is Ansible's shuffle(seed=None).
func filterShuffle(_ *callCtx, in any, args []any, kw map[string]any) (any, error) {
	items, err := asList(in)
	if err != nil {
		return in, nil
	}
	out := append([]any{}, items...)
	seed := argv(args, kw, 0, "seed", nil)
	if t, _ := truthy(seed); !t {
		seed = nil
	}
	r := randomSource(seed)
	for i := len(out) - 1; i > 0; i-- {
		j := r.below(i + 1)
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
