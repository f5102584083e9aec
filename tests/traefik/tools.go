//go:build tools

// Package traefik only records the command `make tools` builds, so `go mod tidy` keeps it.
package traefik

import (
	_ "github.com/traefik/traefik/v3/cmd/traefik"
)
