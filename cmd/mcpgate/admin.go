package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/gateway"
)

// AdminFlags are serve's operator settings: the admin listener and how
// long the audit log is kept.
type AdminFlags struct {
	AuditRetention retention `help:"How long audit events and change-feed entries are kept (e.g. 90d, 720h); 0 keeps everything. One replica prunes at a time." env:"MCPGATE_AUDIT_RETENTION" default:"90d" placeholder:"DURATION"`
}

// retention is a duration that also accepts whole days ("90d").
type retention time.Duration

// UnmarshalText reads "90d", a Go duration such as "720h", or "0".
func (r *retention) UnmarshalText(b []byte) error {
	s := string(b)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return fmt.Errorf("retention %q: want a number of days such as 90d, or a duration such as 720h", s)
		}
		*r = retention(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("retention %q: want a number of days such as 90d, or a duration such as 720h", s)
	}
	*r = retention(d)
	return nil
}

// start applies the flags to the gateway's options.
func (a *AdminFlags) start(opts *gateway.Options) (stop func(), err error) {
	opts.Retention = time.Duration(a.AuditRetention)
	return func() {}, nil
}
