package redact_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/redact"
)

func ExampleNewHandler() {
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	})))
	key := apikey.Format("AbCdEf012345", "SecretSecretSecretSecretSecretSecretSecretS")
	logger.Info("upstream said: invalid key "+key, "authorization", "Bearer opaque-token", "subject", "alice")
	// Output:
	// level=INFO msg="upstream said: invalid key mcpg_AbCdEf012345_[REDACTED]" authorization=[REDACTED] subject=alice
}

func ExampleString() {
	fmt.Println(redact.String("curl -H 'Authorization: Bearer 9f8e7d6c5b4a' https://gw.example/mcp"))
	fmt.Println(redact.String("nothing to hide"))
	// Output:
	// curl -H 'Authorization: Bearer [REDACTED]' https://gw.example/mcp
	// nothing to hide
}
