//go:build unix

package redact

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used. Benchmarks report it
// per operation beside wall time because on a shared, loaded machine wall
// time also counts the time other processes held the CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
