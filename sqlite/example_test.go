package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

// A server follows the change feed to drop cached keys that the CLI (another
// handle on the same directory) revoked.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "mcpgate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	server, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	hash := sha256.Sum256([]byte("the secret part of the key"))
	if err := server.CreateKey(ctx, &mcpgate.APIKey{ID: "k1", Subject: "alice", Hash: hash[:]}); err != nil {
		log.Fatal(err)
	}
	cursor, _ := server.LastChange(ctx)

	cli, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	if err := cli.RevokeKey(ctx, "k1", time.Now()); err != nil {
		log.Fatal(err)
	}

	changes, err := server.ChangesSince(ctx, cursor)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		fmt.Println("drop cached", c.Kind, c.ID)
	}
	// Output:
	// drop cached key k1
}
