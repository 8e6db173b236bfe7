package mcpgate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidLimit means a rate limit or a cost is malformed or out of
// range: a mistake of configuration, not a refusal. Errors from
// [ParseLimit] and [Limit.Check] match it, and so do errors a [Limiter]
// returns for a limit or cost it cannot apply.
var ErrInvalidLimit = errors.New("invalid rate limit")

// ErrLimiterUnavailable means a [Limiter] could not decide, because the
// shared store behind it is unreachable and its policy is to refuse rather
// than to decide locally. Callers answer 503, not 429.
var ErrLimiterUnavailable = errors.New("rate limiter unavailable")

// Bounds of a [Limit], so that every implementation can keep a key's state
// in 64-bit integers of nanoseconds or microseconds without overflow.
const (
	// MinInterval is the shortest time between two admissions a limit may
	// ask for: at most a million requests a second per key.
	MinInterval = time.Microsecond
	// MaxWindow is the longest burst window (Burst × Per / Rate) and the
	// longest period a limit may have.
	MaxWindow = 366 * 24 * time.Hour
)

// Limit is a rate limit in the GCRA sense (the generic cell rate algorithm
// of ATM networks, equivalent to a token bucket): on average Rate requests
// per Per, and at most Burst at once after a quiet spell. A key that is
// refused is admitted again one emission interval (Per / Rate) later, not
// at the end of a fixed window, so there is no burst at window boundaries.
//
// The zero Limit is [Off].
type Limit struct {
	Rate  int           // requests admitted per Per, on average
	Per   time.Duration // the period of Rate
	Burst int           // requests admitted at once from an idle key; ParseLimit defaults it to Rate
}

// Off is the limit that admits everything. A [Limiter] keeps no state for
// it.
var Off = Limit{}

// IsOff reports whether l admits everything.
func (l Limit) IsOff() bool { return l == Off }

// Interval is the emission interval of l, Per / Rate: the time one unit of
// cost takes to be regained. It is 0 for [Off].
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 {
		return 0
	}
	return l.Per / time.Duration(l.Rate)
}

// Window is the burst window of l, Burst × Interval: how long a key that
// spent its whole burst takes to have it back, and so how long its state
// is worth keeping.
func (l Limit) Window() time.Duration {
	return time.Duration(l.Burst) * l.Interval()
}

// Check returns an error matching [ErrInvalidLimit] if l cannot be applied
// to a request of the given cost: l is not [Off] and its Rate, Per or Burst
// is out of range (see [MinInterval] and [MaxWindow]), or cost is less than
// 1 or more than Burst (such a request could never be admitted). Off
// accepts any cost of at least 1.
func (l Limit) Check(cost int) error {
	if cost < 1 {
		return fmt.Errorf("%w: cost %d is less than 1", ErrInvalidLimit, cost)
	}
	if l.IsOff() {
		return nil
	}
	switch {
	case l.Rate < 1:
		return fmt.Errorf("%w: count %d is less than 1", ErrInvalidLimit, l.Rate)
	case l.Per <= 0 || l.Per > MaxWindow:
		return fmt.Errorf("%w: period %v is not between 0 and %v", ErrInvalidLimit, l.Per, MaxWindow)
	case l.Interval() < MinInterval:
		return fmt.Errorf("%w: %d per %v is more than one per %v", ErrInvalidLimit, l.Rate, l.Per, MinInterval)
	case l.Burst < 1:
		return fmt.Errorf("%w: burst %d is less than 1", ErrInvalidLimit, l.Burst)
	case int64(l.Burst) > int64(MaxWindow/l.Interval()):
		return fmt.Errorf("%w: burst %d takes longer than %v to regain", ErrInvalidLimit, l.Burst, MaxWindow)
	case cost > l.Burst:
		return fmt.Errorf("%w: cost %d is more than the burst %d", ErrInvalidLimit, cost, l.Burst)
	}
	return nil
}

// ParseLimit parses a limit written as COUNT/PERIOD, optionally followed by
// "burst N", or "off":
//
//	100/15m           100 per 15 minutes, burst 100
//	600/1m            600 per minute (also 600/m)
//	100/15m burst 20  100 per 15 minutes, at most 20 at once
//	off               no limit
//
// PERIOD is a Go duration ("90s", "1h30m") or a number of days ("1d"); a
// missing number means 1. The burst defaults to COUNT. An error matching
// [ErrInvalidLimit] says what is wrong and shows the accepted form.
func ParseLimit(s string) (Limit, error) {
	fields := strings.Fields(s)
	if len(fields) == 1 && strings.EqualFold(fields[0], "off") {
		return Off, nil
	}
	bad := func(reason string) (Limit, error) {
		return Limit{}, fmt.Errorf("%w %q: %s (want COUNT/PERIOD [burst N] or off, e.g. 100/15m burst 20)", ErrInvalidLimit, s, reason)
	}
	if len(fields) != 1 && (len(fields) != 3 || !strings.EqualFold(fields[1], "burst")) {
		return bad("unexpected words")
	}
	count, period, ok := strings.Cut(fields[0], "/")
	if !ok {
		return bad("no / between count and period")
	}
	var l Limit
	var err error
	if l.Rate, err = strconv.Atoi(count); err != nil || l.Rate < 1 {
		return bad("count is not a positive whole number")
	}
	if l.Per, err = parsePeriod(period); err != nil {
		return bad(err.Error())
	}
	l.Burst = l.Rate
	if len(fields) == 3 {
		if l.Burst, err = strconv.Atoi(fields[2]); err != nil || l.Burst < 1 {
			return bad("burst is not a positive whole number")
		}
	}
	if err := l.Check(1); err != nil {
		return bad(strings.TrimPrefix(err.Error(), ErrInvalidLimit.Error()+": "))
	}
	return l, nil
}

func parsePeriod(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("no period")
	}
	in := s
	if c := s[0]; c >= 'a' && c <= 'z' {
		s = "1" + s // "600/m"
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > int(MaxWindow/(24*time.Hour)) {
			return 0, fmt.Errorf("period %q is not a whole number of days up to %d", in, MaxWindow/(24*time.Hour))
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q is not a duration such as 1m, 15m or 1h", in)
	}
	if d <= 0 {
		return 0, fmt.Errorf("period %q is not positive", in)
	}
	return d, nil
}

// String returns l in the form [ParseLimit] reads, e.g. "100/15m burst 20";
// the burst is left out when it equals the count.
func (l Limit) String() string {
	if l.IsOff() {
		return "off"
	}
	s := strconv.Itoa(l.Rate) + "/" + formatPeriod(l.Per)
	if l.Burst != l.Rate {
		s += " burst " + strconv.Itoa(l.Burst)
	}
	return s
}

func formatPeriod(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d > 0 && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}

// Decision is the outcome of one [Limiter.Allow] call, with what a client
// needs to pace itself (the RateLimit and Retry-After headers).
type Decision struct {
	// Allowed reports whether the request was admitted. Its cost was
	// charged only if so.
	Allowed bool
	// Remaining is the cost the key could still spend at once after this
	// decision. It is 0 for Off.
	Remaining int
	// RetryAfter is, for a refused request, how long until the same cost
	// would be admitted; 0 when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key has its whole burst again,
	// if it spends nothing more.
	ResetAfter time.Duration
	// Limit is the limit the decision applied.
	Limit Limit
}

// Limiter decides whether a request may go ahead under a rate limit.
// Implementations live in the inmem package (one process) and the redis
// package (shared by every replica); both are GCRA and admit the same
// requests.
//
// The limit is passed with every call so that one Limiter serves every
// rule; callers give each rule its own keys (for example "p:" + principal
// id and "auth:" + client address), since a key's state is the same
// whatever limit it is next checked against.
type Limiter interface {
	// Allow charges cost to key under limit if that keeps the key within
	// it, and reports the decision. A refused request charges nothing.
	//
	// Limit [Off] is always allowed and keeps no state. An error matching
	// [ErrInvalidLimit] means limit.Check(cost) fails; any other error
	// means the limiter could not decide (its store is unreachable, or ctx
	// is done). The Decision is then zero but for Limit and perhaps
	// RetryAfter, a hint of when deciding may work again.
	Allow(ctx context.Context, key string, limit Limit, cost int) (Decision, error)
}
