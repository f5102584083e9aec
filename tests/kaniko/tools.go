//go:build tools

// Package kaniko only records the command `make tools` builds (kaniko's executor), so `go mod tidy` keeps it.
package kaniko

import (
	_ "github.com/GoogleContainerTools/kaniko/cmd/executor"
)
