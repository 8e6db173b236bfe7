//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

// processCPU needs /proc; elsewhere CPU per request is not reported.
func processCPU(pid int) (time.Duration, error) {
	return 0, errors.New("the CPU time of a process is read from /proc, on Linux only")
}

func selfCPU() time.Duration { return 0 }

func childAttr() *syscall.SysProcAttr { return nil }
