//go:build tools

// Package kuberouter only records the command `make tools` builds, so `go mod tidy` keeps it.
package kuberouter

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)
