//go:build tools

// Package node only records the commands `make tools` builds for the cluster tier, so `go mod tidy` keeps them.
package node

import (
	_ "github.com/coredns/coredns"
)
