// Command coredns is upstream CoreDNS (github.com/coredns/coredns, version pinned in go.mod)
// with only the plugins the single-node cluster's Corefile uses compiled in, the way CoreDNS
// documents building with a chosen set of plugins. Building every plugin (cloud DNS
// providers, etcd, dnstap, ...) took three times as long for nothing the cluster uses.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins in CoreDNS's own execution order (its plugin.cfg), restricted to those above.
var directives = []string{
	"bind",
	"ready",
	"health",
	"errors",
	"acl",
	"cache",
	"kubernetes",
	"loop",
	"forward",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
