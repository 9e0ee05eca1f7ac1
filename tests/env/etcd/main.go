// Command etcd is the etcd server of the test environment: the upstream
// server's own entry point, built from the Go module proxy at the version
// pinned in go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
