package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/tenant-operator/tenant-operator/internal/config"
)

// loadConfig reads and validates the configuration file. The manager refuses
// to start on its error, which lists every problem with its field path,
// exactly as --check-config prints them.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, errors.New("--config is required: the path of the operator configuration file")
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	return c, nil
}

// checkConfig implements --check-config: it prints every problem of the
// configuration at path, one per line with its field path, and returns the
// process exit code (0 when the configuration is usable). Secret values are
// never printed.
func checkConfig(path string, out io.Writer) int {
	c, err := loadConfig(path)
	if err == nil {
		fmt.Fprintf(out, "configuration %s is valid: %s\n", path, c)
		return 0
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintf(out, "configuration %s has %d problem(s):\n", path, len(ps))
		for _, p := range ps {
			fmt.Fprintf(out, "  %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(out, "%v\n", err)
	return 1
}
