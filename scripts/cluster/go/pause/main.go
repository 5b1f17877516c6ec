// Command pause is the pod sandbox ("infra") container of the single-node cluster: PID 1 of
// each pod, holding its namespaces. It sleeps until SIGINT or SIGTERM and reaps zombies.
// The upstream pause image cannot be pulled without a registry, so `make cluster-up`
// builds this one (a static binary in an otherwise empty image).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
