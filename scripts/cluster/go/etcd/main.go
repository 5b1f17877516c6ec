// Command etcd is upstream etcd's server (go.etcd.io/etcd/server/v3/etcdmain) at the version
// pinned in go.mod; upstream's own main package lives in a module that cannot be required.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
