package main

import (
	"encoding/json"
	"errors"
	"fmt"

	live "github.com/mcpgate/mcpgate/doctor"
)

// runURL checks a live deployment instead of the configuration: no store,
// no configuration file, only what clients see over the network.
func (c *DoctorCmd) runURL(e *env) error {
	if c.URL == "" {
		return usagef("--register needs --url")
	}
	if c.Timeout <= 0 {
		return usagef("--timeout must be positive, got %s", c.Timeout)
	}
	r, err := live.Check(e.ctx, c.URL, &live.Options{Timeout: c.Timeout, Register: c.Register})
	if errors.Is(err, live.ErrBadURL) {
		return usageError{fmt.Errorf("--url: %w", err)}
	}
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if r.Failures > 0 {
		return fmt.Errorf("%d discovery step(s) failed", r.Failures)
	}
	return nil
}
