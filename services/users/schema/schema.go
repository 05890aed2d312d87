// Package schema holds the SQL migrations of the users database, one folder
// per dialect ("sqlite", "postgres"), as files that any implementation of the
// users API can read (see README.md).
package schema

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
