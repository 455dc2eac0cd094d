package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/clusterscript/clusterscript/config"
)

const defaultConfigFile = config.DefaultFile

// loadConfig reads --config, or ./clusterscript.yaml when present. A bad
// file is a usage error (exit 2) naming the key and line.
func loadConfig(c *cli.Context) (*config.Config, error) {
	path := c.String("config")
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err != nil {
			return &config.Config{}, nil
		}
		path = defaultConfigFile
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, cli.Exit("clusterscript: "+err.Error(), 2)
	}
	return cfg, nil
}
