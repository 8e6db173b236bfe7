package main

import (
	"math"
	"math/bits"
	"time"
)

// Latencies are counted in log-linear buckets, as HDR histograms do: below
// 2·histSub nanoseconds one bucket per nanosecond, above that histSub
// buckets per power of two, so a quantile is off by less than 1/histSub
// (1.6%) and recording never allocates.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histBuckets = 40 * histSub // up to 2^41 ns, about 36 minutes
)

// histogram counts latencies. The zero value is empty and ready.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1)
	i := e*histSub + int(v>>e)
	return min(i, histBuckets-1)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) time.Duration {
	if i < 2*histSub {
		return time.Duration(i)
	}
	e := i/histSub - 1
	m := uint64(i - e*histSub)
	return time.Duration(m<<e + (1<<e)/2)
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the recorded
// ones fall, or 0 if none were recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}
